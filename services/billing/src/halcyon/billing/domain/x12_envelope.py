"""A strict X12 interchange reader: ISA/GS/ST ... SE/GE/IEA, and X12 decimal amounts.

Money is posted from what this reader accepts, so it accepts only a complete,
self-consistent interchange (ADR 0604):

- the separators come from the fixed-width ISA (106 characters): the element
  separator is ISA's 4th character, ISA11 the repetition separator, ISA16 the
  component separator and the character after it ends every segment; none may be
  a letter, a digit or a space, and all four must differ;
- a UTF-8 byte order mark before the ISA, CR/LF after a segment terminator, and
  spaces, tabs and blank lines after the last one are tolerated (file transfer adds
  them); nothing else is;
- every ST has its SE, every GS its GE, the ISA its IEA, and their counts and
  control numbers agree (SE01/SE02, GE01/GE02, IEA01/IEA02); a file that ends
  inside a segment or before its trailers is refused: it was cut;
- no element is longer than the longest X12 element (264 characters);
- amounts follow the X12 R (decimal) type: an optional leading minus, ASCII
  digits with at most one decimal point, at most 18 digits, and for money at
  most 2 decimals. No exponent, no plus sign, no ``_``, no other digits.

Every refusal is an :class:`X12Error` naming the segment (id and 1-based position).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass

from halcyon.billing.domain.x12 import Segment, Separators, X12Error

ISA_LENGTH = 106  # including the segment terminator
# Where the ISA's 16 element separators stand (0-based), fixed by the element widths.
ISA_SEPARATOR_COLUMNS = (3, 6, 17, 20, 31, 34, 50, 53, 69, 76, 81, 83, 89, 99, 101, 103)
ISA_VERSION = "00501"
BOM = "\ufeff"
MAX_AMOUNT_DIGITS = 18  # X12 R elements of 005010X221A1 are 1/18
MONEY_DECIMALS = 2
# The longest simple data element X12 defines (MSG01, 1/264). Anything longer is not X12,
# and what we store from an element must fit a MongoDB document several times over.
MAX_ELEMENT_LENGTH = 264
_AMOUNT = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)", re.ASCII)
# The same, its parts captured: sign, whole digits, decimals.
_MONEY = re.compile(r"(-?)(?=\.?[0-9])([0-9]*)(?:\.([0-9]*))?", re.ASCII)
_TAG = re.compile(r"[A-Z][A-Z0-9]{1,2}", re.ASCII)
# C0 controls and DEL other than tab, CR and LF (CR/LF around terminators are skipped).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_DIGITS = re.compile(r"[0-9]+", re.ASCII)


@dataclass(frozen=True)
class TransactionSet:
    """ST ... SE. ``segments`` runs from the ST to the segment before the SE."""

    identifier: str  # ST01, e.g. 835
    control_number: str  # ST02
    segments: tuple[Segment, ...]

    @property
    def header(self) -> Segment:
        return self.segments[0]


@dataclass(frozen=True)
class FunctionalGroup:
    functional_id: str  # GS01, e.g. HP (health care claim payment/advice)
    control_number: str  # GS06
    version: str  # GS08, e.g. 005010X221A1
    header: Segment
    transactions: tuple[TransactionSet, ...]


@dataclass(frozen=True)
class Interchange:
    separators: Separators
    sender_qualifier: str  # ISA05
    sender_id: str  # ISA06
    receiver_id: str  # ISA08
    control_number: str  # ISA13
    groups: tuple[FunctionalGroup, ...]
    segment_count: int
    content_sha256: str  # of the segments, not the bytes: line breaks or a BOM do not count

    @property
    def sender(self) -> str:
        return f"{self.sender_qualifier}:{self.sender_id}"

    def transactions(self) -> Iterator[tuple[FunctionalGroup, TransactionSet]]:
        for group in self.groups:
            for transaction in group.transactions:
                yield group, transaction


def decode(raw: bytes) -> str:
    """The interchange as text. X12 is ASCII (basic/extended sets); UTF-8 is read as such,
    anything else byte for byte, so no input fails here."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    return text.removeprefix(BOM)


def read_separators(text: str) -> Separators:
    """The separators of a fixed-width ISA, validated."""
    if not text.startswith("ISA"):
        head = re.match(r"[A-Za-z0-9]{0,3}", text[:3], re.ASCII)
        tag = head.group(0) if head and head.group(0) else "(none)"
        raise X12Error(tag, 1, "an X12 interchange starts with a 106-character ISA segment")
    if len(text) < ISA_LENGTH:
        raise X12Error("ISA", 1, f"the interchange ends inside the ISA ({len(text)} characters)")
    element = text[3]
    for column in ISA_SEPARATOR_COLUMNS:
        if text[column] != element:
            raise X12Error(
                "ISA",
                1,
                f"ISA is not fixed width: expected the element separator {element!r} at "
                f"column {column + 1}, found {text[column]!r}",
            )
    if text[4:103].count(element) != len(ISA_SEPARATOR_COLUMNS) - 2:
        raise X12Error("ISA", 1, "an ISA element contains the element separator")
    repetition, component, terminator = text[82], text[104], text[105]
    version = text[84:89]
    if version != ISA_VERSION:
        raise X12Error("ISA", 1, f"ISA12 is {version!r}: only {ISA_VERSION} (5010) is read")
    named = {
        "element separator": element,
        "repetition separator (ISA11)": repetition,
        "component separator (ISA16)": component,
        "segment terminator": terminator,
    }
    for role, char in named.items():
        if char.isalnum() or char == " " or (not char.isprintable() and char not in "\r\n"):
            raise X12Error("ISA", 1, f"{char!r} cannot be the {role}")
    if len(set(named.values())) != len(named):
        raise X12Error("ISA", 1, "the element, repetition, component and segment separators differ")
    return Separators(element, component, terminator, repetition)


def split(text: str, separators: Separators) -> list[Segment]:
    """Segments of a whole interchange. CR/LF after a terminator is skipped; a last
    segment without its terminator means the file was cut."""
    terminator = separators.segment
    pieces = text.split(terminator)
    tail = pieces.pop()
    segments: list[Segment] = []
    for piece in pieces:
        position = len(segments) + 1
        body = piece.lstrip("\r\n") if position > 1 else piece
        if terminator == "\n":
            body = body.removesuffix("\r")
        if not body:
            raise X12Error("(empty)", position, "an empty segment (two terminators in a row)")
        elements = tuple(body.split(separators.element))
        tag = elements[0]
        if not _TAG.fullmatch(tag):
            raise X12Error(tag[:3] or "(empty)", position, f"{tag[:10]!r} is not a segment id")
        control = _CONTROL.search(body)
        if control is not None:
            # Not X12 text (the basic and extended sets have no control characters), and a
            # NUL cannot even be stored: refused here, never posted.
            index = next(i for i, e in enumerate(elements) if _CONTROL.search(e))
            raise X12Error(
                tag, position, f"{tag}{index:02d} holds the control character {control.group()!r}"
            )
        longest = max(range(1, len(elements)), key=lambda i: len(elements[i]), default=0)
        if longest and len(elements[longest]) > MAX_ELEMENT_LENGTH:
            raise X12Error(
                tag,
                position,
                f"{tag}{longest:02d} is longer than {MAX_ELEMENT_LENGTH} characters "
                f"({len(elements[longest])}): not an X12 element",
            )
        segments.append(Segment(tag=tag, elements=elements, position=position))
    # Spaces, tabs and blank lines after the last terminator are padding (editors, FTP,
    # fixed-length records), not a cut segment: a cut leaves a segment's text, and a file
    # cut right after a terminator lacks its trailers, which the envelope refuses.
    if tail.strip(" \t\r\n"):
        cut = tail.lstrip("\r\n").split(separators.element)[0][:3] or "(empty)"
        raise X12Error(
            cut,
            len(segments) + 1,
            "the interchange ends inside this segment (no terminator): the file was cut",
        )
    return segments


def read_interchange(raw: bytes) -> Interchange:
    """One complete ISA ... IEA interchange, or an X12Error naming the segment."""
    text = decode(raw)
    separators = read_separators(text)
    segments = split(text, separators)
    return _Envelope(segments, separators).read()


class _Envelope:
    def __init__(self, segments: list[Segment], separators: Separators) -> None:
        self.segments = segments
        self.separators = separators
        self.at = 0

    def _next(self, expected: str) -> Segment:
        if self.at >= len(self.segments):
            last = self.segments[-1] if self.segments else None
            position = last.position + 1 if last else 1
            raise X12Error(expected, position, f"{expected} is missing: the interchange ends")
        segment = self.segments[self.at]
        self.at += 1
        return segment

    def _peek(self) -> str | None:
        return self.segments[self.at].tag if self.at < len(self.segments) else None

    def read(self) -> Interchange:
        isa = self._next("ISA")
        if isa.tag != "ISA" or len(isa.elements) != 17:
            raise X12Error("ISA", 1, "the ISA must have exactly 16 elements")
        control = isa.elements[13]
        if not (len(control) == 9 and _DIGITS.fullmatch(control)):
            raise X12Error("ISA", 1, f"ISA13 {control!r} is not a 9-digit control number")
        groups: list[FunctionalGroup] = []
        while self._peek() == "GS":
            group = self._group()
            if any(g.control_number == group.control_number for g in groups):
                raise X12Error(
                    "GS",
                    group.header.position,
                    f"GS06 {group.control_number} repeats within interchange {control}",
                )
            groups.append(group)
        iea = self._next("IEA")
        if iea.tag != "IEA":
            expected = "GS or IEA" if not groups else "GS or IEA after the GE"
            raise X12Error(iea.tag, iea.position, f"{expected} expected here")
        if not groups:
            raise X12Error("IEA", iea.position, "the interchange has no functional group (GS)")
        if iea.get(1) != str(len(groups)):
            raise X12Error(
                "IEA", iea.position, f"IEA01 says {iea.get(1)!r} groups; there are {len(groups)}"
            )
        if iea.get(2) != control:
            raise X12Error(
                "IEA", iea.position, f"IEA02 {iea.get(2)!r} does not match ISA13 {control!r}"
            )
        if self.at != len(self.segments):
            extra = self.segments[self.at]
            raise X12Error(extra.tag, extra.position, "a segment after the IEA")
        digest = hashlib.sha256()
        for segment in self.segments:
            # Length-prefixed elements: two different segment lists never hash alike.
            digest.update(f"{len(segment.elements)}|".encode())
            for element in segment.elements:
                digest.update(f"{len(element)}:{element}".encode())
        return Interchange(
            separators=self.separators,
            sender_qualifier=isa.elements[5].strip(),
            sender_id=isa.elements[6].strip(),
            receiver_id=isa.elements[8].strip(),
            control_number=control,
            groups=tuple(groups),
            segment_count=len(self.segments),
            content_sha256=digest.hexdigest(),
        )

    def _group(self) -> FunctionalGroup:
        gs = self._next("GS")
        control = gs.get(6)
        if not (1 <= len(control) <= 9 and _DIGITS.fullmatch(control)):
            raise X12Error("GS", gs.position, f"GS06 {control!r} is not a control number")
        transactions: list[TransactionSet] = []
        seen: set[str] = set()
        while self._peek() == "ST":
            transaction = self._transaction()
            if transaction.control_number in seen:
                raise X12Error(
                    "ST",
                    transaction.header.position,
                    f"ST02 {transaction.control_number!r} repeats within group {control}",
                )
            seen.add(transaction.control_number)
            transactions.append(transaction)
        ge = self._next("GE")
        if ge.tag != "GE":
            raise X12Error(ge.tag, ge.position, f"ST or GE expected here (group {control})")
        if not transactions:
            raise X12Error("GE", ge.position, f"group {control} has no transaction set (ST)")
        if ge.get(1) != str(len(transactions)):
            raise X12Error(
                "GE",
                ge.position,
                f"GE01 says {ge.get(1)!r} transaction sets; group {control} has "
                f"{len(transactions)}",
            )
        if ge.get(2) != control:
            raise X12Error("GE", ge.position, f"GE02 {ge.get(2)!r} does not match GS06 {control}")
        return FunctionalGroup(
            functional_id=gs.get(1),
            control_number=control,
            version=gs.get(8),
            header=gs,
            transactions=tuple(transactions),
        )

    def _transaction(self) -> TransactionSet:
        st = self._next("ST")
        control = st.get(2)
        if not 4 <= len(control) <= 9:
            raise X12Error("ST", st.position, f"ST02 {control!r} is not a 4-9 character number")
        body: list[Segment] = [st]
        while True:
            segment = self._next("SE")
            if segment.tag == "SE":
                break
            if segment.tag in ("ST", "GE", "GS", "IEA", "ISA"):
                raise X12Error(
                    "SE",
                    segment.position,
                    f"transaction {control} has no SE before this {segment.tag}",
                )
            body.append(segment)
        se = segment
        counted = len(body) + 1
        if se.get(1) != str(counted):
            raise X12Error(
                "SE",
                se.position,
                f"SE01 says {se.get(1)!r} segments; transaction {control} has {counted}",
            )
        if se.get(2) != control:
            raise X12Error("SE", se.position, f"SE02 {se.get(2)!r} does not match ST02 {control}")
        return TransactionSet(identifier=st.get(1), control_number=control, segments=tuple(body))


def read_cents(segment: Segment, index: int, *, required: bool = True) -> int:
    """An X12 R money amount (at most 2 decimals) as integer cents, or an X12Error."""
    raw = segment.elements[index] if index < len(segment.elements) else ""
    if raw == "":
        if required:
            raise X12Error(
                segment.tag, segment.position, f"{segment.name(index)} amount is missing"
            )
        return 0
    match = _MONEY.fullmatch(raw) if len(raw) <= MAX_AMOUNT_DIGITS + 2 else None
    if match is None:
        raise _not_money(segment, index, raw)
    sign, whole, fraction = match.groups()
    fraction = fraction or ""
    if len(whole) + len(fraction) > MAX_AMOUNT_DIGITS or len(fraction) > MONEY_DECIMALS:
        raise _not_money(segment, index, raw)
    cents = int(whole or "0") * 100 + int(fraction.ljust(MONEY_DECIMALS, "0"))
    return -cents if sign else cents


def _not_money(segment: Segment, index: int, raw: str) -> X12Error:
    name = segment.name(index)
    if _AMOUNT.fullmatch(raw):
        digits = len(raw.lstrip("-").replace(".", ""))
        if digits > MAX_AMOUNT_DIGITS:
            problem = f"{name} has more than {MAX_AMOUNT_DIGITS} digits"
        else:
            problem = f"{name} {raw!r} has more than {MONEY_DECIMALS} decimals: not a money amount"
    else:
        problem = f"{name} is not an X12 decimal amount: {raw[:30]!r}"
    return X12Error(segment.tag, segment.position, problem)
