"""The outcomes dashboard (issue 21, item 4): change from baseline per program, against
figures computed by hand, in pure rules and on a real clinical process."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from clinical_testkit import (  # type: ignore[import-not-found]
    ClinicalHarness,
    clinical,
    new_tenant,
    register,
)
from halcyon.clinical.domain.outcomes import EpisodeSpan, Score, outcomes

__all__ = ["clinical"]

NOV_1, NOV_30 = date(2026, 11, 1), date(2026, 11, 30)


def test_change_from_baseline_by_hand() -> None:
    episodes = [
        EpisodeSpan("a", "MDMA-AT for PTSD", date(2026, 6, 1), None),
        EpisodeSpan("b", "MDMA-AT for PTSD", date(2026, 7, 1), None),
        EpisodeSpan("c", "MDMA-AT for PTSD", date(2026, 7, 1), date(2026, 10, 15)),
        EpisodeSpan("d", "Outpatient", date(2026, 1, 1), None),
    ]
    scores = [
        # a: PCL-5 58 -> 40 -> 31 (latest in November): change -27
        Score("a", "pcl5", date(2026, 6, 2), 58),
        Score("a", "pcl5", date(2026, 8, 2), 40),
        Score("a", "pcl5", date(2026, 11, 3), 31),
        Score("a", "pcl5", date(2026, 12, 3), 10),  # after the period: not the latest
        Score("a", "pcl5", date(2026, 5, 30), 70),  # before the episode: not the baseline
        # b: PCL-5 45 -> 50: change +5
        Score("b", "pcl5", date(2026, 7, 2), 45),
        Score("b", "pcl5", date(2026, 11, 20), 50),
        # c: closed in October, so its latest is not in November: not counted
        Score("c", "pcl5", date(2026, 7, 2), 60),
        Score("c", "pcl5", date(2026, 10, 1), 20),
        # d: PHQ-9 12 -> 12 (unchanged) and a single GAD-7 (no change to speak of)
        Score("d", "phq9", date(2026, 2, 1), 12),
        Score("d", "phq9", date(2026, 11, 5), 12),
        Score("d", "gad7", date(2026, 11, 5), 9),
        Score("d", "cssrs_screener", date(2026, 11, 5), 1),  # not an outcome scale
    ]
    report = outcomes(episodes, scores, NOV_1, NOV_30)
    assert report["rows"] == [
        {"program": "MDMA-AT for PTSD", "instrument": "pcl5", "clients": 2,
         "mean_baseline": "51.5", "mean_latest": "40.5", "mean_change": "-11.0",
         "improved": 1, "unchanged": 0, "worsened": 1},
        {"program": "Outpatient", "instrument": "phq9", "clients": 1,
         "mean_baseline": "12.0", "mean_latest": "12.0", "mean_change": "0.0",
         "improved": 0, "unchanged": 1, "worsened": 0},
    ]  # fmt: skip


def test_means_round_half_up_to_a_tenth() -> None:
    episodes = [EpisodeSpan(c, "P", date(2026, 1, 1), None) for c in "xyz"]
    scores = [
        s
        for c, (b, latest) in zip("xyz", [(10, 5), (11, 5), (11, 6)], strict=True)
        for s in (Score(c, "gad7", date(2026, 1, 2), b), Score(c, "gad7", NOV_30, latest))
    ]
    [row] = outcomes(episodes, scores, NOV_1, NOV_30)["rows"]
    # baselines 32/3 = 10.666.. -> 10.7; latest 16/3 = 5.333.. -> 5.3; change -16/3 -> -5.3
    assert (row["mean_baseline"], row["mean_latest"], row["mean_change"]) == ("10.7", "5.3", "-5.3")


PHQ9_HIGH = [3, 3, 2, 2, 2, 2, 1, 1, 0]  # 16
PHQ9_LOW = [1, 1, 1, 1, 0, 0, 0, 0, 0]  # 4


@pytest.mark.integration
async def test_the_outcomes_dashboard_on_a_real_clinical_process(clinical: ClinicalHarness) -> None:
    tenant = new_tenant()
    therapist = clinical.headers(tenant, "ther-1", ("site-1", "therapist"))
    made: list[str] = []
    for given, answers in (("Ann", (PHQ9_HIGH, PHQ9_LOW)), ("Bea", (PHQ9_LOW, PHQ9_HIGH))):
        client = await register(clinical, tenant, given_name=given)
        cid = client["id"]
        made.append(cid)
        episode = await clinical.http.post(
            f"/clients/{cid}/episodes",
            json={"site_id": "site-1", "program": "Depression IOP", "started_on": "2026-09-01"},
            headers=therapist,
        )
        assert episode.status_code == 201, episode.text
        for day, items in zip(("2026-09-02", "2026-11-10"), answers, strict=True):
            scored = await clinical.http.post(
                f"/clients/{cid}/assessments",
                json={"instrument": "phq9", "site_id": "site-1", "items": items,
                      "administered_at": f"{day}T16:00:00+00:00"},
                headers=therapist,
            )  # fmt: skip
            assert scored.status_code == 201, scored.text

    period = {"site_id": "site-1", "from": "2026-11-01", "to": "2026-11-30"}
    got = await clinical.http.get("/reports/outcomes", params=period, headers=therapist)
    assert got.status_code == 200, got.text
    # By hand: Ann 16 -> 4 (-12), Bea 4 -> 16 (+12): baseline 10.0, latest 10.0, change 0.0.
    assert got.json()["rows"] == [
        {"program": "Depression IOP", "instrument": "phq9", "clients": 2,
         "mean_baseline": "10.0", "mean_latest": "10.0", "mean_change": "0.0",
         "improved": 1, "unchanged": 0, "worsened": 1},
    ]  # fmt: skip
    assert not any(cid in got.text for cid in made)  # counts and means, no client named
    csv = await clinical.http.get(
        "/reports/outcomes", params={**period, "format": "csv"}, headers=therapist
    )
    assert csv.text.splitlines()[1] == "Depression IOP,phq9,2,10.0,10.0,0.0,1,0,1"
    biller = clinical.headers(tenant, "bill-1", ("site-1", "biller"))
    assert (
        await clinical.http.get("/reports/outcomes", params=period, headers=biller)
    ).status_code == 403
    backwards = {**period, "from": "2026-12-01"}
    assert (
        await clinical.http.get("/reports/outcomes", params=backwards, headers=therapist)
    ).status_code == 422

    def audited(envelopes: list[dict[str, Any]]) -> set[tuple[object, ...]]:
        return {
            (e["data"]["user_id"], e["data"]["resource"], e["data"]["outcome"])
            for e in envelopes
            if e["tenantid"] == tenant and e["data"]["resource"] == "clinical/outcomes"
        }

    expected = {
        ("ther-1", "clinical/outcomes", "success"),
        ("bill-1", "clinical/outcomes", "denied"),
    }
    published = await clinical.events(
        "audit.access.v1", until=lambda seen: expected <= audited(seen)
    )
    assert expected <= audited(published)


def test_a_readmitted_client_counts_once_and_same_day_scores_keep_their_order() -> None:
    from datetime import UTC, datetime

    episodes = [
        EpisodeSpan("a", "IOP", date(2026, 1, 1), date(2026, 1, 31)),
        EpisodeSpan("a", "IOP", date(2026, 1, 31), None),  # readmitted the same day
        EpisodeSpan("a", "IOP", date(2026, 2, 1), None),  # and a duplicate open episode
    ]
    scores = [
        Score("a", "phq9", date(2026, 1, 2), 20),
        Score("a", "phq9", date(2026, 1, 31), 10),
        # Two on one day, stored in the wrong order: the later one is the latest.
        Score("a", "phq9", date(2026, 2, 15), 4, datetime(2026, 2, 15, 17, 0, tzinfo=UTC)),
        Score("a", "phq9", date(2026, 2, 15), 5, datetime(2026, 2, 15, 9, 0, tzinfo=UTC)),
    ]
    [row] = outcomes(episodes, scores, date(2026, 1, 1), date(2026, 2, 28))["rows"]
    assert (row["clients"], row["mean_baseline"], row["mean_latest"], row["mean_change"]) == (
        1, "20.0", "4.0", "-16.0",
    )  # fmt: skip
