"""Group-session rules without I/O: who is billed, what one member's chart shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from halcyon.clinical.domain.group_sessions import (
    GroupNoteDraft,
    billed_members,
    content_hash,
    ensure_signable,
    member_encounter_id,
    member_record,
    member_view,
)
from halcyon.shared.errors import RuleViolation
from pydantic import ValidationError

START = datetime(2026, 3, 2, 17, 0, tzinfo=UTC)


def session(**overrides: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": "grp-1",
        "site_id": "site-1",
        "name": "Tuesday DBT skills",
        "status": "draft",
        "author_id": "ther-1",
        "started_at": START,
        "ended_at": START + timedelta(minutes=90),
        "place_of_service": "11",
        "telehealth": False,
        "clinicians": [{"staff_id": "ther-1", "role": "therapist"}],
        "shared_section": "Distress tolerance: TIPP skills practised.",
        "members": [
            {
                "client_id": "ada",
                "attendance": "present",
                "section": "Ada led",
                "diagnoses": ["F43.10"],
            },
            {
                "client_id": "bob",
                "attendance": "present",
                "section": "Bob quiet",
                "diagnoses": ["F32.1"],
            },
            {"client_id": "cy", "attendance": "absent", "section": "", "diagnoses": []},
            {"client_id": "dee", "attendance": "late_cancel", "section": "", "diagnoses": []},
        ],
    }
    return {**doc, **overrides}


def test_only_members_present_are_billed() -> None:
    assert [m["client_id"] for m in billed_members(session()["members"])] == ["ada", "bob"]


def test_a_member_present_without_a_diagnosis_blocks_signing_but_absent_ones_do_not() -> None:
    ensure_signable(session())  # absent and late-cancelled members need no diagnosis
    members = session()["members"]
    members[1] = {**members[1], "diagnoses": []}
    with pytest.raises(RuleViolation) as refused:
        ensure_signable(session(members=members))
    assert "bob" in str(refused.value.extensions)


def test_a_member_sees_the_shared_section_and_only_their_own_section() -> None:
    view = member_view(session(), "ada")
    assert view["shared_section"] == "Distress tolerance: TIPP skills practised."
    assert view["section"] == "Ada led"
    assert view["attendance"] == "present"
    assert view["other_members"] == 3
    # Nothing about the others leaks: not their ids, sections or diagnoses.
    flat = repr(view)
    for other in ("bob", "Bob quiet", "F32.1", "cy", "dee"):
        assert other not in flat


def test_a_non_member_has_no_view() -> None:
    with pytest.raises(KeyError):
        member_view(session(), "eve")


def test_member_encounters_are_distinct_and_stable() -> None:
    ada, bob = member_encounter_id("grp-1", "ada"), member_encounter_id("grp-1", "bob")
    assert ada != bob
    assert ada == member_encounter_id("grp-1", "ada")  # a retried signature bills once
    assert ada != member_encounter_id("grp-2", "ada")


def test_the_hash_covers_every_member_section() -> None:
    members = session()["members"]
    changed = [{**members[0], "section": "Ada left early"}, *members[1:]]
    assert content_hash(session()) != content_hash(session(members=changed))


def _draft(**kw: Any) -> dict[str, Any]:
    return {
        "site_id": "site-1",
        "started_at": START.isoformat(),
        "ended_at": (START + timedelta(minutes=60)).isoformat(),
        "clinicians": [{"staff_id": "ther-1", "role": "therapist"}],
        "members": [
            {"client_id": "ada", "attendance": "present"},
            {"client_id": "bob", "attendance": "absent"},
        ],
        **kw,
    }


def test_draft_refuses_a_duplicate_member_one_member_and_a_backwards_session() -> None:
    GroupNoteDraft.model_validate(_draft())
    ada = {"client_id": "ada", "attendance": "present"}
    for bad in (
        _draft(members=[ada, ada]),
        _draft(members=[ada]),
        _draft(ended_at=START.isoformat()),
        _draft(members=[ada, {"client_id": "bob", "attendance": "maybe"}]),
    ):
        with pytest.raises(ValidationError):
            GroupNoteDraft.model_validate(bad)


def test_the_exported_record_of_a_member_withholds_the_others_like_the_chart() -> None:
    record = member_record(session(status="signed"), "bob")
    assert record["client_id"] == "bob"
    assert record["kind"] == "group"
    assert record["_id"] == member_encounter_id("grp-1", "bob")
    assert record["content"]["your_section"] == "Bob quiet"
    assert record["content"]["other_members"] == "3 other members"
    for other in ("ada", "Ada led", "F43.10", "'cy'", "dee"):
        assert other not in repr(record)
