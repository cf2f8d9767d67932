"""Anchors of a ledger chain's head, kept outside inventory's database (ADR 0503).

A keyed chain stops someone without the key from rewriting entries, but deleting the
newest entries leaves a shorter chain that still verifies. So the head of each chain is
anchored periodically: a signed checkpoint (registration, sequence number, entry id,
head hash, time) goes into identity's append-only audit log (as an event) and is
downloadable as a file an auditor keeps. Verification compares the chain with every
anchor it is given: an anchored entry that is missing, or whose hash differs, is named.

Checkpoints are signed with Ed25519; the signing key is derived from the ledger key
(one secret to keep outside the database), and its public key is published so an
auditor can check a checkpoint file without any Halcyon secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from halcyon.inventory.domain.chain import ChainBreak

CHECKPOINT_FORMAT = "halcyon-ledger-checkpoint/1"
SIGNED_FIELDS = (
    "format",
    "anchor_id",
    "tenant_id",
    "registration_id",
    "dea_number",
    "seq",
    "entry_id",
    "head_hash",
    "anchored_at",
    "key_id",
)


def signing_key(ledger_key: bytes) -> Ed25519PrivateKey:
    seed = hmac.new(ledger_key, b"halcyon-ledger-checkpoint-signing", hashlib.sha256).digest()
    return Ed25519PrivateKey.from_private_bytes(seed)


def public_key_text(ledger_key: bytes) -> str:
    raw = signing_key(ledger_key).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode()


def _message(checkpoint: Mapping[str, Any]) -> bytes:
    signed = {f: checkpoint.get(f) for f in SIGNED_FIELDS}
    return json.dumps(signed, sort_keys=True, separators=(",", ":"), default=str).encode()


def anchored_at_text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def sign_checkpoint(fields: Mapping[str, Any], ledger_key: bytes) -> dict[str, Any]:
    """The checkpoint as stored, sent to identity and handed to auditors."""
    checkpoint = {f: fields.get(f) for f in SIGNED_FIELDS}
    checkpoint["format"] = CHECKPOINT_FORMAT
    signature = signing_key(ledger_key).sign(_message(checkpoint))
    checkpoint["signature"] = base64.b64encode(signature).decode()
    checkpoint["public_key"] = public_key_text(ledger_key)
    return checkpoint


def checkpoint_is_genuine(checkpoint: Mapping[str, Any], ledger_key: bytes) -> bool:
    """Signed by this ledger's key (a forged or edited checkpoint proves nothing)."""
    try:
        public = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key_text(ledger_key)))
        public.verify(base64.b64decode(str(checkpoint.get("signature", ""))), _message(checkpoint))
    except (InvalidSignature, ValueError):
        return False
    return True


def checkpoints_of_tenant(
    checkpoints: Iterable[Mapping[str, Any]], tenant_id: str
) -> list[dict[str, Any]]:
    """The checkpoints an auditor brought that can be this tenant's: those naming it, and
    those copied without a tenant (read as this one's; the signature then decides).
    Anything else (another agency's, or a ``tenant_id`` that is not even a string) is set
    aside: the request body is arbitrary JSON."""
    kept: list[dict[str, Any]] = []
    for checkpoint in checkpoints:
        named = checkpoint.get("tenant_id")
        if named is None or (isinstance(named, str) and named == tenant_id):
            kept.append({**checkpoint, "tenant_id": tenant_id})
    return kept


@dataclass(frozen=True)
class AnchorCheck:
    anchors_checked: int
    first_break: ChainBreak | None
    forged: list[str]


def compare_with_anchors(
    entries: Sequence[Mapping[str, Any]],
    anchors: Iterable[Mapping[str, Any]],
    ledger_key: bytes,
    registration_id: str,
) -> AnchorCheck:
    """Every genuine anchor must find its entry, at its sequence number, with its hash.

    The first (lowest sequence) disagreement is reported; anchors that are not genuine
    are listed and otherwise ignored."""
    by_seq = {int(e["seq"]): e for e in entries}
    forged: list[str] = []
    breaks: list[ChainBreak] = []
    checked = 0
    for anchor in anchors:
        if anchor.get("registration_id") != registration_id:
            continue
        if not checkpoint_is_genuine(anchor, ledger_key):
            forged.append(str(anchor.get("anchor_id")))
            continue
        checked += 1
        seq = int(anchor["seq"])
        entry = by_seq.get(seq)
        when = anchor.get("anchored_at")
        if entry is None:
            breaks.append(
                ChainBreak(
                    str(anchor["entry_id"]),
                    seq,
                    f"entry {seq} was anchored at {when} and is missing (deleted)",
                )
            )
        elif (
            str(entry.get("_id")) != anchor["entry_id"] or entry.get("hash") != anchor["head_hash"]
        ):
            breaks.append(
                ChainBreak(
                    str(entry.get("_id")),
                    seq,
                    f"entry {seq} differs from its anchor of {when} (the chain was rewritten)",
                )
            )
    first = min(breaks, key=lambda b: b.seq) if breaks else None
    return AnchorCheck(checked, first, forged)
