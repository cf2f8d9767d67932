"""The tamper-evident ledger chain: keyed hashing and verification (ADR 0500, 0503).

Each entry of a registration's ledger stores ``prev_hash`` (the hash of the entry
before it, or ``GENESIS`` for the first) and ``hash`` = HMAC-SHA256, under the ledger
key, of the entry's canonical JSON: every field except ``hash`` itself, the outbox
bookkeeping and the archival fields. Archiving (after the two-year retention) adds
``archived_at`` and ``archived_by`` later, so they are covered by their own keyed
``archive_seal`` over the entry's hash and those two fields. Every stored field is
therefore under a keyed MAC.

The key lives outside the database (``HALCYON_INVENTORY_LEDGER_KEY``): someone who can
write to the database but does not hold the key cannot recompute a hash after editing
an entry, so an edit is named even when every later hash was recomputed. Deleting the
newest entries leaves a shorter chain that is consistent in itself; that is caught by
the anchors (``domain/anchors.py``) kept outside inventory's database.
21 CFR 1304.21(a) asks for complete and accurate records; this makes silent edits
detectable.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

GENESIS = "0" * 64
# Entries written under the keyed chain carry this version (inside the hashed content).
CHAIN_VERSION = 2
# Not part of the hashed content: the hash itself and Mongo's outbox bookkeeping; the
# archival fields are under their own seal (see ``archive_seal``).
UNHASHED_PREFIXES = ("_outbox",)
ARCHIVAL_FIELDS = ("archived_at", "archived_by")
UNHASHED_FIELDS = frozenset({"hash", "archive_seal", *ARCHIVAL_FIELDS})


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


def entry_hash(entry: Mapping[str, Any], key: bytes) -> str:
    """HMAC-SHA256 of the entry's canonical content under the ledger key."""
    return hmac.new(key, canonical_json(entry), hashlib.sha256).hexdigest()


def unkeyed_hash(entry: Mapping[str, Any]) -> str:
    """The pre-0503 chain's hash (plain SHA-256): only for migrating old chains."""
    return hashlib.sha256(canonical_json(entry)).hexdigest()


def archive_seal(entry: Mapping[str, Any], key: bytes) -> str:
    """Keyed seal over an entry's hash and its archival fields (who archived it, when)."""
    archival = {f: _canonical_value(entry.get(f)) for f in ARCHIVAL_FIELDS}
    message = json.dumps(
        {"hash": entry.get("hash"), **archival}, sort_keys=True, separators=(",", ":")
    )
    return hmac.new(key, b"archive:" + message.encode(), hashlib.sha256).hexdigest()


def matches_its_hash(entry: Mapping[str, Any], key: bytes) -> bool:
    """The entry is as the service wrote it (under the keyed chain and its keyed hash).
    Archiving trusts ``recorded_at``: sealing an entry whose date was changed in the
    database would let a backdated young record be hidden behind a genuine seal."""
    return entry.get("chain_version") == CHAIN_VERSION and hmac.compare_digest(
        str(entry.get("hash")), entry_hash(entry, key)
    )


def key_id(key: bytes) -> str:
    """A name for the key that reveals nothing of it (so checkpoints say which key)."""
    return hmac.new(key, b"halcyon-ledger-key-id", hashlib.sha256).hexdigest()[:16]


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
    head_seq: int = 0
    head_entry_id: str | None = None

    @property
    def intact(self) -> bool:
        return self.first_break is None


def _first_fault(
    entry: Mapping[str, Any], expected_seq: int, previous: str, key: bytes
) -> str | None:
    """Why this entry does not hold at this place in the chain, or None."""
    seq = int(entry.get("seq", -1))
    if seq != expected_seq:
        if seq > expected_seq:
            return f"sequence {seq} where {expected_seq} was expected (an entry is missing)"
        return f"sequence {seq} repeats or goes backwards"
    if entry.get("prev_hash") != previous:
        return "prev_hash does not match the entry before it"
    if entry.get("chain_version") != CHAIN_VERSION:
        return "not under the keyed chain (written before ADR 0503 and not migrated)"
    if not hmac.compare_digest(str(entry.get("hash")), entry_hash(entry, key)):
        return "content does not match its keyed hash (altered)"
    # Present at all, even as null: the ledger listing hides any entry whose
    # ``archived_at`` exists, so ``{"archived_at": null}`` must be sealed too.
    archival = [f for f in (*ARCHIVAL_FIELDS, "archive_seal") if f in entry]
    if archival and not hmac.compare_digest(
        str(entry.get("archive_seal")), archive_seal(entry, key)
    ):
        return "archival fields were set or changed outside the service (archived_at)"
    return None


def verify_chain(entries: Iterable[Mapping[str, Any]], key: bytes) -> ChainReport:
    """Walk entries in ``seq`` order; report the first one that does not hold."""
    previous = GENESIS
    checked = 0
    head_id: str | None = None
    for entry in entries:
        checked += 1
        fault = _first_fault(entry, checked, previous, key)
        if fault is not None:
            at = ChainBreak(str(entry.get("_id")), int(entry.get("seq", -1)), fault)
            return ChainReport(checked, previous, at, checked - 1, head_id)
        previous = str(entry["hash"])
        head_id = str(entry.get("_id"))
    return ChainReport(checked, previous, None, checked, head_id)
