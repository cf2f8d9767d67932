"""42 CFR Part 2: which signed encounters billing must treat as Part 2 protected."""

from __future__ import annotations

import pytest
from halcyon.clinical.domain.notes import is_substance_use_disorder, part2_protected


@pytest.mark.parametrize(
    ("code", "sud"),
    [
        ("F10.20", True),  # alcohol dependence
        ("F11.20", True),  # opioid dependence
        ("F19.10", True),
        ("f12.90", True),
        ("F1520", True),  # without the dot
        ("F17.210", False),  # nicotine: 42 CFR 2.11 excludes tobacco
        ("F43.10", False),  # PTSD
        ("F32.1", False),
        ("F20.9", False),
    ],
)
def test_substance_use_disorders_are_f10_to_f19_without_nicotine(code: str, sud: bool) -> None:
    assert is_substance_use_disorder(code) is sud


def test_a_part2_program_or_an_sud_diagnosis_makes_the_encounter_part2() -> None:
    assert part2_protected(note_part2=False, program_part2=True, diagnoses=["F43.10"])
    assert part2_protected(note_part2=True, program_part2=False, diagnoses=[])
    assert part2_protected(note_part2=False, program_part2=False, diagnoses=["F43.10", "F10.20"])
    assert not part2_protected(
        note_part2=False, program_part2=False, diagnoses=["F43.10", "F17.210"]
    )
