"""Pure rules of the chart: note lifecycle and hash, Part 2, vitals, identifiers, FHIR."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.consent import Consent
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from halcyon.clinical.domain import fhir
from halcyon.clinical.domain.clients import ClientRegistration, normalise_ssn
from halcyon.clinical.domain.common import normalise_icd10
from halcyon.clinical.domain.consents import (
    PART2_REDISCLOSURE_NOTICE,
    AuthorisationRequired,
    ConsentForm,
    DisclosureRequest,
    Part2ConsentRefused,
    authorise_disclosure,
    consent_status,
)
from halcyon.clinical.domain.forms import BUILTIN_FORMS, InvalidFormAnswers, validate_answers
from halcyon.clinical.domain.notes import (
    NoteDraft,
    compliance_flags,
    content_hash,
    doses_for_note,
    ensure_cosigner,
    ensure_editable,
    ensure_signable,
    service_codes,
    service_date,
    verify,
)
from halcyon.clinical.domain.protocols import ESKETAMINE_REMS, MDMA_PTSD
from halcyon.clinical.domain.vitals import VitalsReading, breaches, session_gaps
from halcyon.shared.errors import Conflict, Forbidden, RuleViolation
from pydantic import ValidationError

NOW = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)


# -- ICD-10-CM, SSN, dates of birth ----------------------------------------------


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("F43.10", "F43.10"),
        ("f4310", "F43.10"),
        ("F32.A", "F32.A"),
        ("C4A.9", "C4A.9"),
        ("S72.001A", "S72.001A"),
        ("Z63", "Z63"),
    ],
)
def test_icd10_cm_codes_are_normalised(raw: str, code: str) -> None:
    assert normalise_icd10(raw) == code


@pytest.mark.parametrize("raw", ["F4", "43.10", "U07.1", "F43.10.1", "F43.12345", "F-43", ""])
def test_malformed_icd10_codes_are_refused(raw: str) -> None:
    with pytest.raises(ValueError, match="is not an ICD-10-CM code"):
        normalise_icd10(raw)


def test_ssn_rules() -> None:
    assert normalise_ssn("123 45 6789") == "123-45-6789"
    for bad in ("000-12-3456", "666-12-3456", "900-12-3456", "123-00-4567", "123-45-0000", "12345"):
        with pytest.raises(ValueError, match="SSN"):
            normalise_ssn(bad)


def test_future_date_of_birth_is_refused() -> None:
    tomorrow = datetime.now(UTC).date() + timedelta(days=1)
    with pytest.raises(ValidationError):
        ClientRegistration(
            given_name="A", family_name="B", date_of_birth=tomorrow, home_site_id="s"
        )


# -- notes ---------------------------------------------------------------------------


def draft(**kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "kind": "psychotherapy",
        "site_id": "site-1",
        "template_id": "builtin:progress-soap",
        "started_at": NOW,
        "ended_at": NOW + timedelta(minutes=53),
        "clinicians": [{"staff_id": "t1", "role": "therapist"}],
        "diagnoses": ["F43.10"],
        "content": {"subjective": "s", "objective": "o", "assessment": "a", "plan": "p"},
    }
    return {**base, **kw}


def signed_note() -> dict[str, Any]:
    note = {
        "_id": "n1",
        "client_id": "c1",
        **NoteDraft.model_validate(draft()).model_dump(),
        "author_id": "t1",
        "status": "signed",
        "signed_by": "t1",
        "signed_at": NOW,
    }
    note["content_hash"] = content_hash(note)
    return note


def test_hash_verifies_and_any_change_to_signed_content_breaks_it() -> None:
    note = signed_note()
    assert verify(note)
    assert len(note["content_hash"]) == 64
    tampered = {**note, "content": {**note["content"], "plan": "changed"}}
    assert not verify(tampered)
    assert not verify({**note, "diagnoses": ["F32.9"]})
    # Lifecycle bookkeeping is not content: co-signing keeps the hash valid.
    assert verify({**note, "cosigned_by": "sup", "cosigned_at": NOW})


def test_signed_notes_refuse_edits_and_only_the_named_supervisor_cosigns() -> None:
    with pytest.raises(Conflict):
        ensure_editable(signed_note())
    with pytest.raises(Conflict):
        ensure_editable({**signed_note(), "status": "awaiting_cosign"})
    ensure_editable({**signed_note(), "status": "draft"})
    waiting = {**signed_note(), "status": "awaiting_cosign", "supervisor_id": "sup"}
    with pytest.raises(Forbidden):
        ensure_cosigner(waiting, "someone-else")
    ensure_cosigner(waiting, "sup")
    with pytest.raises(Conflict):
        ensure_cosigner(signed_note(), "sup")


def test_dosing_note_needs_the_dosing_block_and_two_therapists() -> None:
    with pytest.raises(ValidationError):
        NoteDraft.model_validate(draft(kind="dosing", template_id="builtin:dosing"))
    dosing = {
        "protocol_id": "mdma-ptsd",
        "medicine": "mdma",
        "dose_mg": 120,
        "administered_at": NOW,
        "therapist_ids": ["t1", "t1"],
    }
    with pytest.raises(ValidationError):
        NoteDraft.model_validate(draft(kind="dosing", template_id="builtin:dosing", dosing=dosing))


def test_template_must_fit_the_note_kind_and_required_fields_are_enforced() -> None:
    with pytest.raises(ValidationError):
        NoteDraft.model_validate(draft(template_id="builtin:dosing"))
    with pytest.raises(InvalidFormAnswers):
        validate_answers(BUILTIN_FORMS["builtin:progress-soap"], {"subjective": "only this"})
    with pytest.raises(InvalidFormAnswers):
        validate_answers(
            BUILTIN_FORMS["builtin:progress-dap"],
            {"data": "d", "assessment": "a", "plan": "p", "extra": "x"},
        )


def test_dispensed_doses_attach_by_appointment_else_session_window() -> None:
    note = {
        "kind": "dosing",
        "client_id": "c1",
        "appointment_id": "a1",
        "started_at": NOW,
        "ended_at": NOW + timedelta(hours=8),
    }
    doses: list[dict[str, Any]] = [
        {"client_id": "c1", "appointment_id": "a1", "administered_at": NOW},
        {"client_id": "c1", "appointment_id": "a2", "administered_at": NOW},
        {"client_id": "c2", "appointment_id": "a1", "administered_at": NOW},
        {"client_id": "c1", "appointment_id": None, "administered_at": NOW + timedelta(hours=2)},
        {"client_id": "c1", "appointment_id": None, "administered_at": NOW + timedelta(days=2)},
    ]
    assert doses_for_note(note, doses) == [doses[0], doses[3]]


# -- 42 CFR Part 2 -------------------------------------------------------------------


def part2_consent(**kw: Any) -> dict[str, Any]:
    form = ConsentForm(
        kind="part2",
        recipient="Dr. Jane Roe, Valley Clinic",
        purpose="treatment",
        information_description="SUD diagnoses and progress notes",
        effective_at=NOW - timedelta(days=1),
        expires_at=NOW + timedelta(days=365),
        signed_by_name="Client Name",
        signed_at=NOW - timedelta(days=1),
    )
    return {"_id": "k1", **form.model_dump(), "revoked_at": None, **kw}


REQUEST = DisclosureRequest(recipient="Dr. Jane Roe, Valley Clinic", purpose="treatment")


def test_part2_disclosure_refused_without_consent() -> None:
    with pytest.raises(Part2ConsentRefused):
        authorise_disclosure(part2_records=1, request=REQUEST, consent=None, now=NOW)


def test_part2_disclosure_with_consent_carries_the_redisclosure_notice() -> None:
    notice = authorise_disclosure(
        part2_records=2, request=REQUEST, consent=part2_consent(), now=NOW
    )
    assert notice == PART2_REDISCLOSURE_NOTICE
    assert "42 CFR part 2" in notice


def test_part2_disclosure_refused_after_revocation_or_expiry_or_for_others() -> None:
    for consent in (
        part2_consent(revoked_at=NOW - timedelta(minutes=1)),
        part2_consent(expires_at=NOW - timedelta(seconds=1)),
        part2_consent(recipient="Someone Else"),
        part2_consent(purpose="payment"),
        part2_consent(kind="release_of_information"),
    ):
        with pytest.raises(Part2ConsentRefused):
            authorise_disclosure(part2_records=1, request=REQUEST, consent=consent, now=NOW)
    assert consent_status(part2_consent(revoked_at=NOW), NOW) == "revoked"


def test_non_part2_records_need_no_notice() -> None:
    assert authorise_disclosure(part2_records=0, request=REQUEST, consent=None, now=NOW) is None


def test_part2_consent_must_hold_the_required_elements() -> None:
    """42 CFR 2.31(a): recipient, purpose, description of the information, expiry."""
    form = {k: v for k, v in part2_consent().items() if k not in {"_id", "revoked_at"}}
    ConsentForm.model_validate(form)
    for missing in ("recipient", "purpose", "information_description", "expires_at"):
        with pytest.raises(ValidationError):
            ConsentForm.model_validate({k: v for k, v in form.items() if k != missing})


# -- vitals ----------------------------------------------------------------------------


def reading(**kw: Any) -> VitalsReading:
    return VitalsReading.model_validate(
        {"protocol_id": "mdma-ptsd", "site_id": "s", "measured_at": NOW, **kw}
    )


def test_vitals_over_threshold_breach_and_at_threshold_does_not() -> None:
    limits = MDMA_PTSD.vitals
    assert (
        breaches(
            reading(systolic_mmhg=160, diastolic_mmhg=90, pulse_per_min=110, temperature_c=38.0),
            limits,
        )
        == []
    )
    found = breaches(
        reading(systolic_mmhg=172, diastolic_mmhg=90, pulse_per_min=118, temperature_c=38.4), limits
    )
    assert found == ["systolic 172 > 160 mmHg", "pulse 118 > 110 /min", "temperature 38.4 > 38 °C"]


def test_impossible_vitals_are_refused() -> None:
    for bad in (
        {"systolic_mmhg": 400, "diastolic_mmhg": 80},
        {"pulse_per_min": 0},
        {"systolic_mmhg": 120},
        {},
    ):
        with pytest.raises(ValidationError):
            reading(**bad)


def test_spravato_rems_session_rules() -> None:
    dosed = NOW
    end = dosed + timedelta(minutes=120)

    def bp(minutes: int, phase: str = "during") -> dict[str, Any]:
        return {
            "systolic_mmhg": 130,
            "phase": phase,
            "measured_at": dosed + timedelta(minutes=minutes),
        }

    # The REMS checks are times, whatever the label: before, 30-50 min after, before leaving.
    complete = [bp(-5), bp(40), bp(115)]
    assert session_gaps(ESKETAMINE_REMS, complete, dosed, end) == []
    for edge in (30, 50):
        assert session_gaps(ESKETAMINE_REMS, [bp(-5), bp(edge), bp(115)], dosed, end) == []
    # Labelled "~40 min" but taken at 20 and 55 minutes: neither is the 40-minute check.
    mislabelled = [bp(-5), bp(20, "post_dose_40min"), bp(55, "post_dose_40min"), bp(115)]
    [gap] = session_gaps(ESKETAMINE_REMS, mislabelled, dosed, end)
    assert "post_dose_40min" in gap
    assert "30-50 min" in gap
    # A discharge BP taken an hour before leaving is not "before discharge".
    [gap] = session_gaps(ESKETAMINE_REMS, [bp(-5), bp(40), bp(60, "discharge")], dosed, end)
    assert "discharge" in gap
    gaps = session_gaps(ESKETAMINE_REMS, complete[:1], dosed, dosed + timedelta(minutes=90))
    assert len(gaps) == 3
    assert "at least 120 min" in gaps[0]


# -- FHIR ------------------------------------------------------------------------------


def test_fhir_resources_validate_against_r4b_models() -> None:
    client = {
        "_id": "c1",
        "mrn": "MRN-000001",
        "given_name": "Ada",
        "family_name": "Byron",
        "date_of_birth": "1990-01-02",
        "phone": "+1 303 555 0100",
        "preferred_language": "en",
        "emergency_contact": {"name": "B", "relationship": "sister", "phone": "3035550101"},
    }
    patient = fhir.as_json(fhir.patient(client, "agency-1"))
    Patient.model_validate(patient)
    note = {**signed_note(), "part2": True}
    encounter = fhir.as_json(fhir.encounter(note))
    Encounter.model_validate(encounter)
    assert encounter["meta"]["security"][0]["code"] == "42CFRPart2"
    vitals = fhir.vitals_observations(
        {
            "_id": "v1",
            "client_id": "c1",
            "measured_at": NOW,
            "systolic_mmhg": 150,
            "diastolic_mmhg": 90,
            "pulse_per_min": 100,
            "temperature_c": 37.2,
            "spo2_percent": 97,
        }
    )
    codes = [fhir.as_json(o)["code"]["coding"][0]["code"] for o in vitals]
    assert codes == ["85354-9", "8867-4", "8310-5", "59408-5"]
    scored = fhir.score_observation(
        {
            "_id": "a1",
            "client_id": "c1",
            "instrument": "phq9",
            "administered_at": NOW,
            "total": 12,
            "severity": "moderate",
        }
    )
    assert scored.valueInteger == 12
    condition = fhir.condition(
        {"_id": "e1", "client_id": "c1", "status": "open"},
        {"code": "F43.10", "onset_on": date(2020, 1, 1).isoformat()},
    )
    consent = fhir.consent({**part2_consent(), "client_id": "c1"}, "active")
    bundle = fhir.as_json(fhir.searchset([*vitals, scored, condition, consent]))
    parsed = Bundle.model_validate(bundle)
    assert parsed.total == 7
    Observation.model_validate(bundle["entry"][-3]["resource"])
    Condition.model_validate(bundle["entry"][-2]["resource"])
    Consent.model_validate(bundle["entry"][-1]["resource"])


@pytest.mark.parametrize(
    ("kind", "minutes", "present", "roles", "codes"),
    [
        ("psychotherapy", 15, True, [], []),
        ("psychotherapy", 16, True, [], ["90832"]),
        ("psychotherapy", 37, True, [], ["90832"]),
        ("psychotherapy", 38, True, [], ["90834"]),
        ("psychotherapy", 52, True, [], ["90834"]),
        ("psychotherapy", 53, True, [], ["90837"]),
        ("integration", 60, True, [], ["90837"]),
        ("intake", 60, True, [], ["90791"]),
        ("family", 50, False, [], ["90846"]),
        ("family", 50, True, [], ["90847"]),
        ("group", 90, True, [], ["90853"]),
        ("dosing", 480, True, ["first", "second"], ["0820T", "0821T"]),
        ("dosing", 480, True, ["first", "staff"], ["0820T", "0822T"]),
    ],
)
def test_service_codes_follow_cpt_time_rules(
    kind: str, minutes: int, present: bool, roles: list[str], codes: list[str]
) -> None:
    assert (
        service_codes(kind, minutes=minutes, with_patient_present=present, monitoring_roles=roles)
        == codes
    )


def test_non_part2_disclosure_for_a_specific_purpose_needs_an_authorisation() -> None:
    specific = DisclosureRequest(
        recipient=REQUEST.recipient,
        purpose="specific",
        purpose_description="life insurance application",
    )
    with pytest.raises(AuthorisationRequired):
        authorise_disclosure(part2_records=0, request=specific, consent=None, now=NOW)
    roi = part2_consent(kind="release_of_information")
    assert authorise_disclosure(part2_records=0, request=specific, consent=roi, now=NOW) is None
    with pytest.raises(AuthorisationRequired):
        authorise_disclosure(
            part2_records=0, request=specific, consent={**roi, "revoked_at": NOW}, now=NOW
        )


def test_compliance_flags_record_missing_consent_and_screening_without_blocking() -> None:
    dosing_note = {"telehealth": False, "dosing": {"protocol_id": "mdma-ptsd"}}
    assert compliance_flags(dosing_note, [], [], NOW) == [
        "no active informed consent for mdma-ptsd",
        "no screening for mdma-ptsd",
    ]
    consent = {
        "kind": "psychedelic_informed",
        "protocol_id": "mdma-ptsd",
        "effective_at": NOW - timedelta(days=3),
        "revoked_at": None,
    }
    eligible = {"protocol_id": "mdma-ptsd", "eligible": True, "signed_at": NOW - timedelta(days=2)}
    ineligible = {**eligible, "eligible": False, "signed_at": NOW - timedelta(days=1)}
    assert compliance_flags(dosing_note, [consent], [eligible], NOW) == []
    assert compliance_flags(dosing_note, [consent], [eligible, ineligible], NOW) == [
        "latest screening for mdma-ptsd found the client ineligible"
    ]
    assert compliance_flags({"telehealth": True}, [], [], NOW) == [
        "telehealth session without an active telehealth consent"
    ]


def test_dosing_codes_add_documented_psychotherapy_and_drop_monitoring_by_telehealth() -> None:
    roles = ["first", "second"]
    with_talk = service_codes(
        "dosing",
        minutes=480,
        with_patient_present=True,
        monitoring_roles=roles,
        psychotherapy_minutes=40,
    )
    assert with_talk == ["0820T", "0821T", "90834"]
    remote = service_codes(
        "dosing", minutes=480, with_patient_present=True, monitoring_roles=roles, telehealth=True
    )
    assert remote == []


def test_a_note_without_a_diagnosis_cannot_be_signed() -> None:
    with pytest.raises(RuleViolation):
        ensure_signable({**signed_note(), "status": "draft", "diagnoses": []})
    ensure_signable(signed_note())


def test_service_date_is_the_sites_local_date() -> None:
    evening_in_denver = datetime(2026, 11, 20, 2, 30, tzinfo=UTC)  # 19:30 MST on the 19th
    assert service_date(evening_in_denver, "America/Denver") == date(2026, 11, 19)
    assert service_date(evening_in_denver, None) == date(2026, 11, 20)
    assert service_date(evening_in_denver, "Not/AZone") == date(2026, 11, 20)
