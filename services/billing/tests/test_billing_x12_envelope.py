"""The strict 835 reader (ADR 0604): separators, trailers and counts, X12 decimals, identities
from the file's own keys, and denial reasons. Every malformed input is an X12Error naming the
segment, never another exception (hypothesis mutates the samples)."""

from __future__ import annotations

import contextlib
import threading
from typing import Any, cast

import pytest
from halcyon.billing.domain.posting import ClaimRef, plan_posting, remittance_file_id
from halcyon.billing.domain.remittance import read_835
from halcyon.billing.domain.x12 import Segment, X12Error
from halcyon.billing.domain.x12_envelope import read_cents, read_interchange
from halcyon.billing.usecases import remittances
from halcyon.shared.auth import Caller
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.billing.tests.x12_835_support import (
    cuts,
    interchange,
    isa,
    sample,
    valid_samples,
)

MANAGED = "tr3-managed-care-2-claims-co45-pr1.835"


def refused(raw: bytes) -> X12Error:
    with pytest.raises(X12Error) as caught:
        read_835(raw)
    return caught.value


def payment(claim: str = "H1", paid: str = "100", trace: str = "T1") -> list[str]:
    return [
        f"BPR*I*{paid}*C*CHK************20261130",
        f"TRN*1*{trace}*1512345678",
        "N1*PR*ACME HEALTH*XV*ACME1",
        "N1*PE*HALCYON CLINIC*XX*1234567893",
        "LX*1",
        f"CLP*{claim}*1*150*{paid}*50*12*ICN{claim}",
        "SVC*HC:90837*150*100",
        "CAS*PR*1*50",
    ]


# -- separators ----------------------------------------------------------------------------


def test_a_utf8_bom_and_crlf_after_terminators_are_read() -> None:
    raw = interchange(payment(), line_break="\r\n")
    remittance = read_835(b"\xef\xbb\xbf" + raw)
    assert remittance.transactions[0].claims[0].paid_cents == 10000
    # Same segments, other bytes: the same file.
    assert remittance_file_id("agency-1", remittance) == remittance_file_id(
        "agency-1", read_835(interchange(payment()))
    )


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (
            lambda t: t.replace("*:~", "*:A", 1).replace("~", "A"),
            "cannot be the segment terminator",
        ),
        (lambda t: t.replace("*:~", "*~~", 1), "differ"),
        (lambda t: t.replace("*:~", "*::", 1).replace("~", ":"), "differ"),
        (lambda t: t.replace("*^*", "*U*", 1), "repetition separator"),
        (lambda t: t.replace("*00501*", "*00401*", 1), "ISA12"),
        (lambda t: t.replace("*000000101*", "*00000101*", 1), "not fixed width"),
        (lambda t: t.replace("*ZZ*PAYER   ", "*ZZ*PAY*R   ", 1), "contains the element separator"),
    ],
)
def test_isa_separators_are_validated(change: object, words: str) -> None:
    text = interchange(payment()).decode()
    assert callable(change)
    error = refused(change(text).encode())
    assert error.segment == "ISA"
    assert error.position == 1
    assert words in str(error)


# -- trailers, counts and control numbers --------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "segment", "words"),
    [
        ("SE*10*0001~", "SE*11*0001~", "SE", "SE01 says '11'"),
        ("SE*10*0001~", "SE*10*0002~", "SE", "SE02"),
        ("GE*1*101~", "GE*2*101~", "GE", "GE01"),
        ("GE*1*101~", "GE*1*102~", "GE", "GE02"),
        ("IEA*1*000000101~", "IEA*2*000000101~", "IEA", "IEA01"),
        ("IEA*1*000000101~", "IEA*1*000000102~", "IEA", "IEA02"),
        ("SE*10*0001~", "", "SE", "no SE"),
        ("GE*1*101~", "", "IEA", "ST or GE expected"),
        ("IEA*1*000000101~", "", "IEA", "IEA is missing"),
        ("IEA*1*000000101~", "IEA*1*000000101~ST*835*9~", "ST", "after the IEA"),
        ("CAS*PR*1*50~", "CAS*PR*1*50~~", "(empty)", "empty segment"),
        ("LX*1~", "lx*1~", "lx", "not a segment id"),
    ],
)
def test_trailers_counts_and_control_numbers_must_agree(
    old: str, new: str, segment: str, words: str
) -> None:
    text = interchange(payment()).decode()
    assert old in text
    error = refused(text.replace(old, new).encode())
    assert error.segment == segment, str(error)
    assert words in str(error), str(error)
    assert error.position is not None


def test_two_groups_or_transactions_with_one_control_number_are_refused() -> None:
    twice = interchange(payment(), payment()).replace(b"ST*835*0002", b"ST*835*0001")
    twice = twice.replace(b"SE*10*0002", b"SE*10*0001")
    assert "ST02 '0001' repeats" in str(refused(twice))


def test_every_cut_of_a_file_is_refused_naming_a_segment() -> None:
    for raw in valid_samples().values():
        read_835(raw)  # whole: read
        for cut in cuts(raw):
            error = refused(cut)
            assert error.segment, (cut[-40:], error)
            assert error.position, (cut[-40:], error)


def test_a_file_cut_inside_clp04_is_refused_not_read_as_a_smaller_amount() -> None:
    raw = sample(MANAGED)
    cut = raw[: raw.index(b"CLP*5554555444*1*800.00*45") + len(b"CLP*5554555444*1*800.00*45")]
    error = refused(cut)
    assert error.segment == "CLP"
    assert "was cut" in str(error)


# -- X12 decimal amounts -------------------------------------------------------------------


def amount(raw: str) -> int:
    return read_cents(Segment("CLP", ("CLP", raw), 7), 1)


@pytest.mark.parametrize(
    ("raw", "cents"),
    [
        ("261.07", 26107),
        ("-1.27", -127),
        ("0", 0),
        ("5", 500),
        ("5.", 500),
        (".5", 50),
        ("1000000.1", 100000010),
        ("9" * 16 + ".99", int("9" * 18)),
    ],
)
def test_x12_decimal_amounts_are_read_exactly(raw: str, cents: int) -> None:
    assert amount(raw) == cents


@pytest.mark.parametrize(
    "raw",
    [
        "1E+30",
        "1E+5",
        "1e5",
        "1_000",
        "\u0661\u0662\u0663",  # Arabic-Indic digits
        "\uff11\uff12",  # fullwidth digits
        "1.234",
        "9" * 27,
        "9" * 19,
        "+5",
        "-",
        ".",
        "--1",
        "1.2.3",
        " 12",
        "NaN",
        "Infinity",
        "0x10",
    ],
)
def test_anything_else_is_an_x12_error_naming_the_element(raw: str) -> None:
    with pytest.raises(X12Error) as caught:
        amount(raw)
    assert caught.value.segment == "CLP"
    assert caught.value.position == 7
    assert "CLP01" in str(caught.value)


def test_an_exponent_in_a_file_is_a_422_not_a_500() -> None:
    error = refused(interchange(payment(paid="1E+30")))
    assert error.segment == "BPR"
    assert "BPR02" in str(error)


# -- identities ----------------------------------------------------------------------------


def test_two_transactions_of_one_payer_with_one_trace_keep_every_payment_and_plb() -> None:
    first = [*payment("H1", trace="CHK1"), "PLB*1234567893*20261231*WO:A1*5"]
    second = [*payment("H1", trace="CHK1"), "PLB*1234567893*20261231*WO:A1*5"]
    plan = plan_posting("agency-1", read_835(interchange(first, second)), {})
    assert len(plan.claims) == 2
    assert len(plan.provider_adjustments) == 2
    assert len(set(plan.ids)) == 4
    assert plan.paid_cents == 20000
    assert plan.provider_adjustment_cents == 1000


def test_payment_ids_come_from_the_files_keys_never_from_amounts() -> None:
    one = plan_posting("agency-1", read_835(interchange(payment(paid="26"))), {})
    other = plan_posting("agency-1", read_835(interchange(payment(paid="261.07"))), {})
    assert one.ids == other.ids
    # Another interchange (ISA13) of the same payer is another posting.
    again = plan_posting("agency-1", read_835(interchange(payment(), control="000000102")), {})
    assert set(again.ids).isdisjoint(one.ids)


def test_two_agencies_posting_one_file_get_different_ids() -> None:
    """Ids are unique in collections every agency shares: the same file held by two
    agencies must not collide (the second was never posted)."""
    remittance = read_835(interchange([*payment(), "PLB*1234567893*20261231*WO:A1*5"]))
    one, other = (plan_posting(agency, remittance, {}) for agency in ("agency-1", "agency-2"))
    assert set(one.ids).isdisjoint(other.ids)
    assert one.remittance_id != other.remittance_id


# -- denial reasons ------------------------------------------------------------------------


def test_a_denial_with_only_pr_27_carries_its_reason_and_remarks() -> None:
    body = [
        "BPR*H*0*C*NON************20261130",
        "TRN*1*D1*1512345678",
        "LX*1",
        "CLP*H9*4*150*0*150*12*ICN9",
        "CAS*PR*27*150",
        "MOA***N30",
        "SVC*HC:90837*150*0",
        "LQ*HE*M86",
    ]
    plan = plan_posting("agency-1", read_835(interchange(body)), {"H9": ClaimRef("c9", "cl9", "p")})
    [posting] = plan.claims
    assert posting.work_item == "denial"
    reasons = posting.reasons()
    assert reasons["codes"] == ["PR-27"]
    assert reasons["carcs"] == [{"group": "PR", "reason": "27", "amount_cents": 15000}]
    assert reasons["group_codes"] == ["PR"]
    assert reasons["carc_codes"] == ["27"]
    assert reasons["remarks"] == ["M86", "N30"]


# -- only accepted or an X12 error, whatever the bytes ------------------------------------

VALID = list(valid_samples().values())


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    raw = bytearray(draw(st.sampled_from(VALID)))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(raw) - 1))
        kind = draw(st.sampled_from(["flip", "delete", "insert", "truncate", "dup"]))
        if kind == "flip":
            raw[at] = draw(st.sampled_from(list(b"*~:^0123456789.-E+_ A\r\n\x00\xff")))
        elif kind == "delete":
            del raw[at : at + draw(st.integers(1, 8))]
        elif kind == "insert":
            raw[at:at] = draw(
                st.sampled_from(
                    [b"1E+30", b"~", b"*", "\u0661".encode(), b".999", b"9" * 27, b"\xef"]
                )
            )
        elif kind == "truncate":
            del raw[at:]
        else:
            raw[at:at] = raw[at : at + draw(st.integers(1, 60))]
        if not raw:
            break
    return bytes(raw)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_samples_are_read_or_refused_with_an_x12_error(raw: bytes) -> None:
    refusal: X12Error | None = None
    try:
        remittance = read_835(raw)
    except X12Error as error:
        refusal = error
    if refusal is not None:
        assert refusal.segment
        return
    plan = plan_posting("agency-1", remittance, {})
    assert len(set(plan.ids)) == len(plan.ids)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_after_a_valid_isa_are_read_or_refused(tail: bytes) -> None:
    with contextlib.suppress(X12Error):
        read_interchange(isa("000000101").encode() + tail)


# -- off the event loop --------------------------------------------------------------------


async def test_the_file_is_read_in_a_worker_thread_not_on_the_event_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    threads: list[threading.Thread] = []

    def reading(raw: bytes) -> Any:
        threads.append(threading.current_thread())
        return read_835(raw)

    monkeypatch.setattr(remittances, "read_835", reading)
    # Refused while reading: no repository is touched, so none is needed.
    unused = cast(Any, None)
    poster = remittances.RemittancePoster(unused, unused, unused, unused, unused, unused)
    with pytest.raises(X12Error):
        await poster.ingest(Caller("u-1", "t-1"), b"ISA*cut", None)
    assert threads
    assert threads[0] is not threading.main_thread()


# -- sizes a document can hold ---------------------------------------------------------------


def test_an_element_longer_than_x12_allows_is_refused_naming_the_segment() -> None:
    """A 6 MB CARC was posted half-way: the payment stored, then the claim update too large
    for one MongoDB document (a 500, the file left pending forever)."""
    body = payment()
    body[-1] = "CAS*CO*" + "9" * (6 * 1024 * 1024) + "*50"
    error = refused(interchange(body))
    assert error.segment == "CAS"
    assert "longer than" in str(error)
    long_name = [*payment()[:2], "N1*PR*" + "A" * 265 + "*XV*ACME1", *payment()[4:]]
    assert refused(interchange(long_name)).segment == "N1"
    # The longest element X12 has (264 characters) is still read.
    read_835(interchange([*payment()[:2], "N1*PR*" + "A" * 264 + "*XV*ACME1", *payment()[4:]]))


def test_a_control_character_in_an_element_is_refused_naming_the_segment() -> None:
    """A NUL flipped into a CLP element was read and posted: the document store refused
    the payment (PostgreSQL stores no NUL), a 500 with the file left pending."""
    body = payment()
    clp = next(i for i, seg in enumerate(body) if seg.startswith("CLP*"))
    body[clp] = body[clp].replace("CLP*H1", "CLP*H\x001")
    error = refused(interchange(body))
    assert error.segment == "CLP"
    assert "control character" in str(error)


def test_a_claim_payment_too_large_for_one_document_is_refused() -> None:
    """200,000 adjustments on one claim payment: each is stored in the payment, the claim
    and the work item, past what one document can hold."""
    body = payment()
    body += ["CAS*CO*45*0*1*45*0*1*45*0*1*45*0*1*45*0*1*45*0*1"] * 40_000
    error = refused(interchange(body))
    assert error.segment == "CLP"
    assert "too large" in str(error)


@pytest.mark.parametrize("tail", [b"  ", b"\r\n  \r\n\t", b"\n\n\n", b" \r\n"])
def test_blank_lines_and_spaces_after_the_iea_are_read(tail: bytes) -> None:
    """A complete file with trailing spaces or blank lines (editors, FTP, padding) was
    refused as 'cut'; nothing of it is missing."""
    raw = interchange(payment(), line_break="\r\n")
    assert read_835(raw + tail).transactions[0].claims[0].paid_cents == 10000
    # A cut is still refused, trailing spaces or not.
    assert refused(raw[:-30] + tail).segment in ("GE", "SE")
    assert refused(raw[:-5] + tail).segment == "IEA"


def test_a_plb_composite_with_another_separator_is_warned_as_a_plb() -> None:
    """The warning named the PLB 'SVC #n', sending a biller to a service line that is fine."""
    remittance = read_835(interchange([*payment(), "PLB*1234567893*20261231*WO>A1*5*FB>B2*-2.5"]))
    [transaction] = remittance.transactions
    assert [p.amount_cents for p in transaction.provider_adjustments] == [500, -250]
    assert [p.reason for p in transaction.provider_adjustments] == ["WO", "FB"]
    assert remittance.warnings[0].startswith("PLB #")
    assert not any(w.startswith("SVC") for w in remittance.warnings)


def test_warnings_are_bounded_however_many_segments_warn() -> None:
    """One warning per SVC: a large file whose payer splits every SVC01 with '>' made a
    summary (stored in the file record) larger than a document can hold."""
    body = payment()
    body += ["CLP*H2*1*150*100*50*12*ICNH2"] + ["SVC*HC>90837*150*100"] * 5000
    remittance = read_835(interchange(body))
    assert len(remittance.warnings) <= 51
    assert "more" in remittance.warnings[-1]
    assert "4951" in remittance.warnings[-1]
    assert "BPR02" in remittance.warnings[0]  # the money warning is kept
