"""271 eligibility response (005010X279A1): read strictly, and what it says about coverage."""

from __future__ import annotations

import contextlib
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from halcyon.billing.domain.eligibility271 import read_271
from halcyon.billing.domain.x12 import X12Error
from halcyon.billing.usecases.eligibility import eligibility_summary
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

DATA = Path(__file__).parent / "data" / "x12" / "271"
RESPONSE = (DATA / "tr3-subscriber-eligibility-response.271").read_text()
ERROR = (DATA / "tr3-subscriber-eligibility-error-aaa.271").read_text()


def with_benefits(*segments: str, dates: tuple[str, ...] = ("DTP*346*D8*20060101",)) -> str:
    """The TR3 response with its 2100C dates and 2110C benefits replaced (SE01 recounted)."""
    head = [
        "ST*271*4321*005010X279A1",
        "BHT*0022*11*10001234*20060501*1319",
        "HL*1**20*1",
        "NM1*PR*2*ABC COMPANY*****PI*841610001",
        "HL*2*1*21*1",
        "NM1*1P*2*BONE AND JOIN CLINIC*****SV*2000035",
        "HL*3*2*22*0",
        "TRN*2*E42*9877281234",
        "NM1*IL*1*SMITH*JOHN****MI*123456789",
        *dates,
        *segments,
    ]
    body = [*head, f"SE*{len(head) + 1}*4321"]
    isa = RESPONSE.split("~")[0]
    gs = "GS*HB*000000005*54321*20131031*1147*1*X*005010X279A1"
    return "~\n".join([isa, gs, *body, "GE*1*1", "IEA*1*000000907"]) + "~\n"


def test_the_tr3_response_says_active_with_its_plan_and_copays() -> None:
    answer = read_271(RESPONSE)
    assert answer.active is True
    assert answer.trace_number == "93175-012547"
    assert answer.payer_id == "841610001"
    assert answer.member_id == "123456789"
    assert answer.plan_name == "GOLD 123 PLAN"
    assert answer.plan_begins_on == date(2006, 1, 1)
    # EB*B in network $10, out of network $30 (EB03 repeats with ^).
    assert answer.copay_cents == 1000
    assert answer.out_of_network_copay_cents == 3000
    assert answer.benefits[2].service_types[:3] == ("1", "33", "35")
    # The PCP's NM1*P3 inside LS/LE is not the subscriber.
    assert answer.subscriber_family_name == "SMITH"


def test_coinsurance_and_deductible_are_exact() -> None:
    text = with_benefits(
        "EB*1**30**GOLD PLAN",
        "EB*A*IND*30***23**.2****Y",
        "EB*A*IND*30***23**.4****N",
        "EB*C*IND*30***23*1500.00*****Y",
        "EB*C*IND*30***29*1234.56*****Y",
        "EB*B*IND*MH***27*25*****Y",
        dates=("DTP*291*RD8*20260101-20261231",),
    )
    answer = read_271(text)
    assert answer.coinsurance == Decimal("0.2")
    assert answer.deductible_cents == 150000
    assert answer.deductible_remaining_cents == 123456
    assert answer.copay_cents == 2500
    assert (answer.plan_begins_on, answer.plan_ends_on) == (date(2026, 1, 1), date(2026, 12, 31))
    summary = eligibility_summary(answer, "2026-03-02")
    assert summary["coinsurance_percent"] == "20"
    assert summary["status"] == "active"
    assert summary["plan_ends_on"] == "2026-12-31"


def test_inactive_coverage_and_plan_end() -> None:
    answer = read_271(
        with_benefits("EB*6**30", dates=("DTP*346*D8*20250101", "DTP*347*D8*20251231"))
    )
    assert answer.active is False
    assert answer.plan_ends_on == date(2025, 12, 31)
    assert eligibility_summary(answer, None)["status"] == "inactive"


def test_a_rejection_is_read_once_the_envelope_holds() -> None:
    # The TR3 example's SE02 (4323) disagrees with its ST02 (4321): strictly, that is refused.
    with pytest.raises(X12Error, match="SE02"):
        read_271(ERROR)
    answer = read_271(ERROR.replace("SE*8*4323", "SE*8*4321"))
    assert answer.active is None
    assert [(r.reason, r.follow_up) for r in answer.rejections] == [("50", "N")]
    assert eligibility_summary(answer, None)["status"] == "rejected"


@pytest.mark.parametrize(
    ("text", "segment"),
    [
        (with_benefits("EB*B**30***27*1E+3"), "EB"),
        (with_benefits("EB*B**30***27*10.005"), "EB"),
        (with_benefits("EB*B**30***27*1_000"), "EB"),
        (with_benefits("EB*B**30***27*\u0661\u0660"), "EB"),  # Arabic-Indic digits
        (with_benefits("EB*A**30*****1.5"), "EB"),  # 150 %: EB08 is a fraction
        (with_benefits("EB*1**30", dates=("DTP*346*D8*20260230",)), "DTP"),
        (with_benefits("EB*1**30", dates=("DTP*291*RD8*20261231-20260101",)), "DTP"),
        (with_benefits("EB*1**30").replace("SE*12*", "SE*11*"), "SE"),
        (with_benefits("EB*1**30").replace("GE*1*1", "GE*2*1"), "GE"),
        (with_benefits("EB*1**30").replace("IEA*1*000000907", "IEA*1*000000908"), "IEA"),
        (with_benefits("EB*1**30").replace("IEA*1*000000907~\n", ""), "GE"),
        (with_benefits("EB*1**30").replace("GS*HB", "GS*HP"), "GS"),
        (with_benefits("EB*1**30").replace("ST*271", "ST*270"), "ST"),
        (RESPONSE.replace("*:~", "*A~", 1), "ISA"),  # a letter as component separator
        (RESPONSE.replace("*:~", "*::", 1), "ISA"),  # same character twice
        ("GS*HB*1~", "ISA"),
    ],
)
def test_malformed_271s_are_refused_naming_the_segment(text: str, segment: str) -> None:
    with pytest.raises(X12Error) as refused:
        read_271(text)
    assert refused.value.segment == segment


def test_the_sample_files_are_the_tr3_examples() -> None:
    assert "EB*B**1^33^35^47^86^88^98^AL^MH^UC" in RESPONSE


def test_a_271_cut_anywhere_is_refused() -> None:
    cuts = range(1, len(RESPONSE.rstrip()) - 1)
    refused = 0
    for cut in cuts:
        with pytest.raises(X12Error):
            read_271(RESPONSE[:cut])
        refused += 1
    assert refused == len(cuts)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    edits=st.lists(
        st.tuples(
            st.sampled_from(["replace", "insert", "delete"]),
            st.integers(min_value=0, max_value=10_000),
            st.characters(codec="utf-8"),
        ),
        min_size=1,
        max_size=6,
    ),
)
def test_any_mutation_of_a_271_is_read_or_refused_as_x12_never_a_crash(
    data: st.DataObject, edits: list[tuple[str, int, str]]
) -> None:
    base = data.draw(st.sampled_from([RESPONSE, ERROR, with_benefits("EB*A**30*****.2")]))
    text = base
    for action, at, ch in edits:
        at %= len(text) + 1
        if action == "replace" and at < len(text):
            text = text[:at] + ch + text[at + 1 :]
        elif action == "insert":
            text = text[:at] + ch + text[at:]
        else:
            text = text[:at] + text[at + 1 :]
    # Anything else (IndexError, InvalidOperation, ValueError ...) would be a 500.
    with contextlib.suppress(X12Error):
        read_271(text)
