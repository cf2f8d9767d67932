"""The tamper-evident ledger chain: canonical hashing and verification.

Each entry of a registration's ledger stores ``prev_hash`` (the hash of the entry
before it, or ``GENESIS`` for the first) and ``hash`` = SHA-256 over the entry's
canonical JSON (every field except ``hash`` and bookkeeping fields). Changing any
stored field of any entry breaks its own hash; deleting or re-ordering entries
breaks the sequence or the next entry's ``prev_hash``. 21 CFR 1304.21(a) asks for
complete and accurate records; this makes silent edits detectable.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

GENESIS = "0" * 64
# Not part of the hashed content: the hash itself, Mongo's outbox bookkeeping, archiving.
UNHASHED_PREFIXES = ("_outbox",)
UNHASHED_FIELDS = frozenset({"hash", "archived_at", "archived_by"})


def _canonical_value(value: Any) -> Any:
    if isinstance(value, datetime):
        # Mongo keeps milliseconds; hash exactly what survives a round trip.
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC).isoformat(timespec="milliseconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return int(value)  # 80.0 and 80 hash alike (Mongo may hand back either)
    if isinstance(value, Mapping):
        return {str(k): _canonical_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical_value(v) for v in value]
    return value


def hashed_content(entry: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: _canonical_value(v)
        for k, v in entry.items()
        if k not in UNHASHED_FIELDS and not k.startswith(UNHASHED_PREFIXES)
    }


def canonical_json(entry: Mapping[str, Any]) -> bytes:
    return json.dumps(
        hashed_content(entry), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode()


def entry_hash(entry: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(entry)).hexdigest()


def truncate_to_millis(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


@dataclass(frozen=True)
class ChainBreak:
    entry_id: str
    seq: int
    reason: str


@dataclass(frozen=True)
class ChainReport:
    entries_checked: int
    head_hash: str
    first_break: ChainBreak | None

    @property
    def intact(self) -> bool:
        return self.first_break is None


def verify_chain(entries: Iterable[Mapping[str, Any]]) -> ChainReport:
    """Walk entries in ``seq`` order; report the first one that does not hold."""
    previous = GENESIS
    expected_seq = 1
    checked = 0
    for entry in entries:
        entry_id = str(entry.get("_id"))
        seq = int(entry.get("seq", -1))
        checked += 1
        if seq != expected_seq:
            reason = (
                f"sequence {seq} where {expected_seq} was expected (an entry is missing)"
                if seq > expected_seq
                else f"sequence {seq} repeats or goes backwards"
            )
            return ChainReport(checked, previous, ChainBreak(entry_id, seq, reason))
        if entry.get("prev_hash") != previous:
            return ChainReport(
                checked,
                previous,
                ChainBreak(entry_id, seq, "prev_hash does not match the entry before it"),
            )
        actual = entry_hash(entry)
        if entry.get("hash") != actual:
            return ChainReport(
                checked,
                previous,
                ChainBreak(entry_id, seq, "content does not match its stored hash (altered)"),
            )
        previous = actual
        expected_seq += 1
    return ChainReport(checked, previous, None)
