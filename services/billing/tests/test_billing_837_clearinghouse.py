"""837P a clearinghouse accepts: ASCII names, at most 50 lines a claim, refusals naming the field,
REF*G1 for prior authorizations. Every generated file passes pyx12's x12valid."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest
from halcyon.billing.domain.claim837 import (
    Address,
    Claim,
    ClaimRefused,
    Party,
    ServiceLine,
    ascii_text,
    write_837p,
)
from halcyon.billing.domain.claims import split_into_claims

from services.billing.tests.test_billing_x12_837 import (
    DOS,
    PROVIDER,
    envelope,
    primary_claim,
    segments,
)
from services.billing.tests.x12_validation import x12valid


def test_accented_names_and_addresses_are_transliterated_and_validate(tmp_path: Path) -> None:
    home = Address("Calle Peñón 5", "São Tomé", "NM", "875011234", line2="Piso 2º")
    nunez = Party(
        "Núñez", "M77", given_name="José Ångström", address=home, date_of_birth=date(1970, 5, 6)
    )
    claim = replace(primary_claim(), subscriber=nunez, patient=nunez)
    text = write_837p(envelope(60), PROVIDER, [claim])
    assert text.isascii()
    segs = segments(text)
    assert ["NM1", "IL", "1", "NUNEZ", "JOSE ANGSTROM", "", "", "", "MI", "M77"] in segs
    assert ["N3", "CALLE PENON 5", "PISO 2O"] in segs
    assert ["N4", "SAO TOME", "NM", "875011234"] in segs
    ok, output = x12valid(text, tmp_path)
    assert ok, output


def test_letters_without_a_decomposition_have_their_customary_spelling() -> None:
    assert ascii_text("Łukasz Strauß Ødegård", "name") == "Lukasz Strauss Odegard"
    assert ascii_text("O\u2019Brien", "name") == "O'Brien"


def test_a_name_that_cannot_be_transliterated_is_refused_naming_the_field() -> None:
    claim = replace(
        primary_claim(),
        patient=replace(primary_claim().patient, name="山田"),
        subscriber=replace(primary_claim().subscriber, name="山田"),
    )
    with pytest.raises(ClaimRefused) as refused:
        write_837p(envelope(61), PROVIDER, [claim])
    assert refused.value.field == "subscriber.name"
    assert refused.value.claim_number == "HC0000001"


def sixty_lines() -> list[ServiceLine]:
    """A 60-day stretch: 0820T with its two add-ons on ten days, then 30 therapy sessions."""
    lines: list[ServiceLine] = []
    for day in range(10):
        on = DOS + timedelta(days=day)
        lines += [
            ServiceLine("0820T", (), 40000, 2, on, (1,)),
            ServiceLine("0821T", (), 30000, 2, on, (1,)),
            ServiceLine("0822T", (), 10000, 2, on, (1,)),
        ]
    lines += [
        ServiceLine("90837", (), 25000 + i, 1, DOS + timedelta(days=i), (1,)) for i in range(30)
    ]
    return lines


def test_a_60_line_encounter_becomes_claims_of_at_most_50_lines(tmp_path: Path) -> None:
    lines = sixty_lines()
    parts = split_into_claims([(line.service_date, line.cpt) for line in lines])
    assert [len(p) for p in parts] == [50, 10]
    assert sorted(i for p in parts for i in p) == list(range(60))
    claims = [
        replace(primary_claim(f"HC00000{n}"), lines=tuple(lines[i] for i in part))
        for n, part in enumerate(parts)
    ]
    # Every claim total is exactly its own lines; together they are the encounter.
    assert sum(c.total_cents for c in claims) == sum(line.charge_cents for line in lines)
    text = write_837p(envelope(62), PROVIDER, claims)
    segs = segments(text)
    totals = [s[2] for s in segs if s[0] == "CLM"]
    assert totals == [f"{c.total_cents / 100:g}" for c in claims]
    assert [s[0] for s in segs].count("LX") == 60
    ok, output = x12valid(text, tmp_path)
    assert ok, output


def test_add_ons_stay_on_the_claim_of_their_0820t() -> None:
    # 48 therapy lines first, then a day of 0820T + two add-ons: the three move together.
    lines = [(DOS, "90837")] * 48 + [(DOS, "0820T"), (DOS, "0821T"), (DOS, "0822T")]
    parts = split_into_claims(lines)
    assert [len(p) for p in parts] == [48, 3]
    assert [lines[i][1] for i in parts[1]] == ["0820T", "0821T", "0822T"]


def test_51_lines_in_one_claim_are_refused() -> None:
    line = ServiceLine("90837", (), 25000, 1, DOS, (1,))
    with pytest.raises(ClaimRefused) as refused:
        write_837p(envelope(63), PROVIDER, [replace(primary_claim(), lines=(line,) * 51)])
    assert refused.value.field == "lines"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (
            {"diagnoses": (*(f"F4{i}.0" for i in range(10)), "F32.1", "F33.0", "F41.1")},
            "diagnoses",
        ),
        (
            {"lines": (ServiceLine("90837", ("95", "GT", "59", "XU", "25"), 100, 1, DOS, (1,)),)},
            "lines[1].modifiers",
        ),
        (
            {"lines": (ServiceLine("90837", (), 100, 1, DOS, (1, 2, 1, 2, 1)),)},
            "lines[1].diagnosis_pointers",
        ),
        ({"lines": (ServiceLine("90837", (), 100, 1, DOS, (3,)),)}, "lines[1].diagnosis_pointers"),
        ({"lines": (ServiceLine("90837", (), 100, 0, DOS, (1,)),)}, "lines[1].units"),
        ({"lines": (ServiceLine("90837", (), 100, -2, DOS, (1,)),)}, "lines[1].units"),
    ],
    ids=[
        "13-diagnoses",
        "5-modifiers",
        "5-pointers",
        "pointer-to-nothing",
        "zero-units",
        "negative-units",
    ],
)
def test_what_a_payer_rejects_is_refused_naming_the_field(
    change: dict[str, object], field: str
) -> None:
    claim: Claim = replace(primary_claim(), **change)  # type: ignore[arg-type]
    with pytest.raises(ClaimRefused) as refused:
        write_837p(envelope(64), PROVIDER, [claim])
    assert refused.value.field == field


def test_twelve_diagnoses_and_four_modifiers_and_pointers_are_written_in_full(
    tmp_path: Path,
) -> None:
    twelve = ("F43.10", "F32.1", "F41.1", "F40.10", "F42.2", "F33.1", "F31.81", "F34.1",
              "F44.81", "F45.1", "F50.2", "F51.01")  # fmt: skip
    line = ServiceLine("90837", ("95", "GT", "59", "XU"), 25000, 1, DOS, (12, 11, 10, 9))
    claim = replace(primary_claim(), diagnoses=twelve, lines=(line,))
    text = write_837p(envelope(65), PROVIDER, [claim])
    segs = segments(text)
    assert len(next(s for s in segs if s[0] == "HI")) == 13
    sv1 = next(s for s in segs if s[0] == "SV1")
    assert sv1[1] == "HC:90837:95:GT:59:XU"
    assert sv1[7] == "12:11:10:9"
    ok, output = x12valid(text, tmp_path)
    assert ok, output


def test_the_prior_authorization_is_sent_as_ref_g1(tmp_path: Path) -> None:
    claim = replace(primary_claim(), prior_authorization="AUTH778899")
    text = write_837p(envelope(66), PROVIDER, [claim])
    segs = segments(text)
    clm = next(i for i, s in enumerate(segs) if s[0] == "CLM")
    assert segs[clm + 1] == ["REF", "G1", "AUTH778899"]
    ok, output = x12valid(text, tmp_path)
    assert ok, output


def test_line_level_authorizations_go_before_the_line_control_number(tmp_path: Path) -> None:
    claim = primary_claim()
    lines = (
        replace(claim.lines[0], prior_authorization="AUTH-A"),
        *claim.lines[1:3],
        replace(claim.lines[3], prior_authorization="AUTH-B"),
    )
    text = write_837p(envelope(67), PROVIDER, [replace(claim, lines=lines)])
    segs = segments(text)
    g1 = [i for i, s in enumerate(segs) if s[:2] == ["REF", "G1"]]
    assert [segs[i][2] for i in g1] == ["AUTH-A", "AUTH-B"]
    assert segs[g1[0] + 1] == ["REF", "6R", "L1"]
    ok, output = x12valid(text, tmp_path)
    assert ok, output
