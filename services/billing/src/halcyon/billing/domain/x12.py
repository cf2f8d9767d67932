"""X12 plumbing shared by the 837P writer and the 835 reader: separators, segments, money."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation


class X12Error(ValueError):
    """An interchange that cannot be understood. Always names the segment at fault."""

    def __init__(self, segment: str, position: int | None, problem: str) -> None:
        where = f"segment {segment}" + (f" (#{position})" if position is not None else "")
        super().__init__(f"{where}: {problem}")
        self.segment = segment
        self.position = position
        self.problem = problem


@dataclass(frozen=True)
class Separators:
    element: str = "*"
    component: str = ":"
    segment: str = "~"
    repetition: str = "^"


@dataclass(frozen=True)
class Segment:
    tag: str
    elements: tuple[str, ...]  # elements[0] is the tag itself, as X12 numbers them
    position: int  # 1-based position in the interchange

    def get(self, index: int, default: str = "") -> str:
        """Element ``index`` (1-based, as in ``CLP01``), stripped; ``default`` when absent."""
        if index < len(self.elements):
            return self.elements[index].strip()
        return default

    def name(self, index: int) -> str:
        return f"{self.tag}{index:02d}"


# ISA is fixed width: 106 characters including the segment terminator.
ISA_LENGTH = 106


def read_separators(text: str, warnings: list[str]) -> tuple[Separators, str]:
    """Separators from the ISA (or guessed when a file starts at ST), and the text from ISA/ST.

    The ISA names them: the character after "ISA" is the element separator,
    ISA11 the repetition separator, ISA16 the component separator, and the
    character right after ISA16 ends every segment. Counting elements rather
    than columns also reads an ISA whose padding was stripped.
    """
    body = text.lstrip("\ufeff \r\n\t")
    if body.startswith("ISA"):
        element = body[3]
        if element.isalnum() or element.isspace():
            raise X12Error("ISA", 1, f"{element!r} cannot be an element separator")
        cuts = [i for i, ch in enumerate(body[:400]) if ch == element]
        if len(cuts) < 16:
            raise X12Error("ISA", 1, "fewer than 16 elements: the separators cannot be read")
        component_at = cuts[15] + 1
        if component_at + 1 >= len(body):
            raise X12Error("ISA", 1, "the interchange ends inside the ISA")
        component = body[component_at]
        segment = body[component_at + 1]
        isa_fields = body[:component_at].split(element)
        repetition = isa_fields[11] if len(isa_fields) > 11 and len(isa_fields[11]) == 1 else "^"
        if component_at + 1 != ISA_LENGTH - 1:
            warnings.append(
                f"ISA is {component_at + 2} characters, not the fixed {ISA_LENGTH}: "
                "read by counting elements"
            )
        if segment in "\r\n":
            segment = "\n"
        return Separators(element, component, segment, repetition), body
    if body.startswith("ST"):
        warnings.append("no ISA/GS envelope: the file starts at ST; separators were guessed")
        element = body[2]
        segment = "~" if "~" in body else "\n"
        return Separators(element, _guess_component(body, element), segment), body
    head = body[:3] or "(empty)"
    raise X12Error(head, 1, "an X12 interchange starts with ISA (or at least ST)")


def _guess_component(body: str, element: str) -> str:
    marker = f"SVC{element}"
    at = body.find(marker)
    if at >= 0:
        candidate = body[at + len(marker) + 2 : at + len(marker) + 3]
        if candidate and not candidate.isalnum():
            return candidate
    return ":"


def split_segments(text: str, separators: Separators) -> list[Segment]:
    out: list[Segment] = []
    for raw in text.split(separators.segment):
        cleaned = raw.strip("\r\n\t ")
        if not cleaned:
            continue
        elements = tuple(cleaned.split(separators.element))
        out.append(
            Segment(tag=elements[0].strip().upper(), elements=elements, position=len(out) + 1)
        )
    return out


def parse_cents(segment: Segment, index: int, *, required: bool = True) -> int:
    """An X12 R (decimal) amount as integer cents; anything else names the element."""
    raw = segment.get(index)
    if not raw:
        if required:
            raise X12Error(
                segment.tag, segment.position, f"{segment.name(index)} amount is missing"
            )
        return 0
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise X12Error(
            segment.tag, segment.position, f"{segment.name(index)} is not an amount: {raw!r}"
        ) from None
    if not value.is_finite():
        raise X12Error(segment.tag, segment.position, f"{segment.name(index)} is not finite")
    return int((value * 100).quantize(Decimal(1)))


def format_amount(cents: int) -> str:
    """Cents as an X12 R value: no trailing zeros, no plus sign (TR3 data-type rules)."""
    sign = "-" if cents < 0 else ""
    whole, frac = divmod(abs(cents), 100)
    if frac == 0:
        return f"{sign}{whole}"
    text = f"{sign}{whole}.{frac:02d}"
    return text.rstrip("0")


class SegmentWriter:
    """Builds segments with the chosen separators and counts those inside ST/SE."""

    def __init__(self, separators: Separators) -> None:
        self.separators = separators
        self._segments: list[str] = []

    def add(self, tag: str, *elements: str | list[str] | tuple[str, ...]) -> None:
        values = [
            self.separators.component.join(e) if isinstance(e, (list, tuple)) else e
            for e in elements
        ]
        while values and values[-1] == "":
            values.pop()  # X12: trailing empty elements are omitted
        simple = [e for e in elements if not isinstance(e, (list, tuple))]
        parts = [p for e in elements if isinstance(e, (list, tuple)) for p in e]
        reserved = (self.separators.element, self.separators.segment, self.separators.component)
        for value in [*simple, *parts] if tag != "ISA" else []:
            if any(ch in value for ch in reserved):
                raise ValueError(f"{tag}: value {value!r} contains a separator")
        self._segments.append(self.separators.element.join([tag, *values]))

    def composite(self, *parts: str) -> list[str]:
        items = list(parts)
        while items and items[-1] == "":
            items.pop()
        return items

    @property
    def count(self) -> int:
        return len(self._segments)

    def text(self) -> str:
        return "".join(f"{s}{self.separators.segment}\n" for s in self._segments)
