"""Outcomes per program: PHQ-9, GAD-7 and PCL-5 change from baseline. Pure; exact.

For each client's episode of care in a program, the **baseline** is the first score of an
instrument on or after the episode started, and the **latest** the last score up to the
end of the period (and of the episode, if it closed). A client counts when the episode
has at least two scores and the latest falls in the period: one score says nothing about
change. Lower is better on all three instruments.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

OUTCOME_INSTRUMENTS = ("phq9", "gad7", "pcl5")
_TENTH = Decimal("0.1")


@dataclass(frozen=True)
class Score:
    client_id: str
    instrument: str
    day: date  # the site's local day it was given
    total: int


@dataclass(frozen=True)
class EpisodeSpan:
    client_id: str
    program: str
    started_on: date
    ended_on: date | None


def _mean(values: list[int]) -> str:
    return str((Decimal(sum(values)) / Decimal(len(values))).quantize(_TENTH, ROUND_HALF_UP))


def outcomes(
    episodes: Iterable[EpisodeSpan], scores: Iterable[Score], start: date, end: date
) -> dict[str, Any]:
    by_client: dict[tuple[str, str], list[Score]] = {}
    for s in scores:
        if s.instrument in OUTCOME_INSTRUMENTS:
            by_client.setdefault((s.client_id, s.instrument), []).append(s)
    groups: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for episode in episodes:
        last_day = min(end, episode.ended_on) if episode.ended_on else end
        for instrument in OUTCOME_INSTRUMENTS:
            within = sorted(
                (
                    s
                    for s in by_client.get((episode.client_id, instrument), [])
                    if episode.started_on <= s.day <= last_day
                ),
                key=lambda s: s.day,
            )
            if len(within) < 2 or within[-1].day < start:
                continue
            groups.setdefault((episode.program, instrument), []).append(
                (within[0].total, within[-1].total)
            )
    rows = []
    for (program, instrument), pairs in sorted(groups.items()):
        changes = [latest - baseline for baseline, latest in pairs]
        rows.append(
            {
                "program": program,
                "instrument": instrument,
                "clients": len(pairs),
                "mean_baseline": _mean([b for b, _ in pairs]),
                "mean_latest": _mean([latest for _, latest in pairs]),
                "mean_change": _mean(changes),
                "improved": sum(1 for c in changes if c < 0),
                "unchanged": sum(1 for c in changes if c == 0),
                "worsened": sum(1 for c in changes if c > 0),
            }
        )
    return {"from": start.isoformat(), "to": end.isoformat(), "rows": rows}


def episode_span(doc: Mapping[str, Any]) -> EpisodeSpan:
    ended = doc.get("ended_on")
    return EpisodeSpan(
        client_id=str(doc["client_id"]),
        program=str(doc["program"]),
        started_on=date.fromisoformat(str(doc["started_on"])[:10]),
        ended_on=date.fromisoformat(str(ended)[:10]) if ended else None,
    )
