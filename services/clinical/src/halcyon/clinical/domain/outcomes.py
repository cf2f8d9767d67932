"""Outcomes per program: PHQ-9, GAD-7 and PCL-5 change from baseline. Pure; exact.

For each client in a program, the **baseline** is the first score of an instrument given
during one of the client's episodes of care in that program, and the **latest** the last
such score up to the end of the period (and of the episode, if it closed). A client who
was readmitted, or has two overlapping episodes, counts once. A client counts when there
are at least two scores and the latest falls in the period: one score says nothing about
change. Lower is better on all three instruments.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
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
    at: datetime | None = None  # orders two scores of one day


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
    spans: dict[tuple[str, str], list[tuple[date, date]]] = {}
    for episode in episodes:
        last_day = min(end, episode.ended_on) if episode.ended_on else end
        spans.setdefault((episode.client_id, episode.program), []).append(
            (episode.started_on, last_day)
        )
    groups: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for (client_id, program), windows in spans.items():
        for instrument in OUTCOME_INSTRUMENTS:
            within = sorted(
                (
                    s
                    for s in by_client.get((client_id, instrument), [])
                    if any(first <= s.day <= last for first, last in windows)
                ),
                key=lambda s: (s.day, s.at or datetime.min.replace(tzinfo=UTC)),
            )
            if len(within) < 2 or within[-1].day < start:
                continue
            groups.setdefault((program, instrument), []).append((within[0].total, within[-1].total))
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
