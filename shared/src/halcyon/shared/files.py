"""Files people upload (scanned consents and records in a chart, staff credential files).

Written once for every service that keeps files (ADR 0307):

- what is accepted: PDFs and images recognised by their bytes, never by what the caller
  says, whole (a digest, an end marker);
- how a file is kept: in chunks under MongoDB's document limit, each sealed for its
  agency (AES-256-GCM bound to the agency, the file and the chunk's place), in the
  owning service's own database;
- how it is read back: every chunk opened and the whole compared with its SHA-256.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
from dataclasses import dataclass

from bson import Binary
from cryptography.exceptions import InvalidTag
from halcyon.shared.crypto import FieldCipher
from halcyon.shared.errors import Conflict, DomainError, RuleViolation
from halcyon.shared.mongo import Document, TenantRepository
from pymongo import ASCENDING, IndexModel

# What may be uploaded, recognised by the file's first bytes. Anything else (HTML, SVG,
# scripts, office files with macros, archives) is refused: a download must never run.
PDF, PNG, JPEG, TIFF = "application/pdf", "image/png", "image/jpeg", "image/tiff"
ALLOWED_TYPES = (PDF, PNG, JPEG, TIFF)
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", PDF),
    (b"\x89PNG\r\n\x1a\n", PNG),
    (b"\xff\xd8\xff", JPEG),
    (b"II*\x00", TIFF),
    (b"MM\x00*", TIFF),
)
# Under MongoDB's 16 MB document limit with room, and small enough to stream.
CHUNK_BYTES = 255 * 1024
MAX_FILE_BYTES = 10 * 1024 * 1024
# Aliases a scanner or browser may declare for the same kinds of file.
_DECLARED_ALIASES = {"image/jpg": JPEG, "image/pjpeg": JPEG, "application/x-pdf": PDF}


class UnsupportedFile(DomainError):
    status, slug, title = 415, "unsupported-document-type", "This kind of file is not accepted"


def sniff(data: bytes) -> str | None:
    """The file's type from its first bytes, or ``None`` when it is none we accept."""
    for signature, content_type in _SIGNATURES:
        if data.startswith(signature):
            return content_type
    return None


def accepted_type(data: bytes, declared: str | None) -> str:
    """The content type the file will be stored and served as.

    The bytes decide. A declared type (the request's Content-Type) that names another
    kind of file is refused too: a PDF sent as ``image/png`` is a client bug or a disguise.
    """
    if not data:
        raise RuleViolation("the body is empty: send the file's bytes as the request body")
    found = sniff(data)
    if found is None:
        raise UnsupportedFile(
            "the file is not a PDF, PNG, JPEG or TIFF (recognised by its contents)",
            allowed=list(ALLOWED_TYPES),
        )
    said = (declared or "").split(";")[0].strip().lower()
    said = _DECLARED_ALIASES.get(said, said)
    if said and said not in {found, "application/octet-stream"}:
        raise UnsupportedFile(
            f"the request says {said} but the file is {found}",
            declared=said,
            detected=found,
            allowed=list(ALLOWED_TYPES),
        )
    return found


def _sha256_claimed(content_digest: str) -> bytes:
    """The SHA-256 a ``Content-Digest`` header (RFC 9530, an RFC 8941 dictionary) claims.

    Members of other algorithms are ignored; parameters after ``;`` are allowed. A
    sha-256 member that is not ``:<base64>:`` makes the whole header unreadable, and a
    header without one says nothing we can check: both are refused.
    """
    claimed: bytes | None = None
    for member in content_digest.split(","):
        name, _, value = member.strip().partition("=")
        if name.strip().lower() != "sha-256":
            continue
        value = value.split(";", 1)[0].strip()
        if not (len(value) > 2 and value.startswith(":") and value.endswith(":")):
            raise RuleViolation(
                "Content-Digest: sha-256 must be :<base64>: (RFC 9530)", field="Content-Digest"
            )
        try:
            claimed = base64.b64decode(value[1:-1], validate=True)
        except (binascii.Error, ValueError):
            raise RuleViolation(
                "Content-Digest: sha-256 is not valid base64", field="Content-Digest"
            ) from None
        if len(claimed) != hashlib.sha256().digest_size:
            raise RuleViolation("Content-Digest: sha-256 must be 32 bytes", field="Content-Digest")
    if claimed is None:
        raise RuleViolation(
            "Content-Digest must carry sha-256=:<base64>: (RFC 9530)", field="Content-Digest"
        )
    return claimed


def content_digest(data: bytes) -> str:
    """The ``Content-Digest`` header (RFC 9530) a sender puts on ``data``."""
    return "sha-256=:" + base64.b64encode(hashlib.sha256(data).digest()).decode() + ":"


def check_digest(data: bytes, content_digest: str | None) -> str:
    """The file's SHA-256 (hex). When the caller sent ``Content-Digest: sha-256=:…:``
    (RFC 9530), it must match: a cut-off or altered upload is refused, never stored."""
    sha256 = hashlib.sha256(data)
    if content_digest is None:
        return sha256.hexdigest()
    if _sha256_claimed(content_digest) != sha256.digest():
        raise RuleViolation(
            "the file received does not match its Content-Digest (cut off or altered on the "
            "way); nothing was stored",
            field="Content-Digest",
        )
    return sha256.hexdigest()


# Where each kind of file says it has ended. A file cut off on the way (an interrupted
# upload, a scanner that stopped) lacks it; TIFF has no end marker.
_TAIL = 1024


def check_complete(data: bytes, content_type: str) -> None:
    tail = data[-_TAIL:]
    ended = {
        PDF: b"%%EOF" in tail,
        PNG: b"IEND\xaeB`\x82" in tail,  # the IEND chunk and its (constant) CRC
        JPEG: b"\xff\xd9" in tail,
    }.get(content_type, True)
    if not ended:
        raise RuleViolation(
            f"the file ends before its {content_type} end marker: it looks cut off on the way "
            "(send the whole file); nothing was stored",
            detected=content_type,
        )


def chunks(data: bytes) -> list[bytes]:
    return [data[i : i + CHUNK_BYTES] for i in range(0, len(data), CHUNK_BYTES)]


def chunk_context(file_id: str, n: int) -> str:
    """What a chunk's seal is bound to: its file and place."""
    return f"document:{file_id}:{n}"


@dataclass(frozen=True)
class Assembled:
    data: bytes
    intact: bool


def assemble(parts: list[tuple[int, bytes]], expected_chunks: int, sha256: str) -> Assembled:
    """The file from its (number, bytes) chunks, and whether it is what was stored."""
    ordered = sorted(parts)
    data = b"".join(b for _, b in ordered)
    complete = [n for n, _ in ordered] == list(range(expected_chunks))
    return Assembled(data, complete and hashlib.sha256(data).hexdigest() == sha256)


def seal_chunks(cipher: FieldCipher, tenant_id: str, file_id: str, data: bytes) -> list[Document]:
    """The file as chunk documents, each sealed for the agency and its place."""
    return [
        {
            "_id": f"{file_id}:{n:05d}",
            "file_id": file_id,
            "n": n,
            "data": Binary(cipher.seal(tenant_id, part, chunk_context(file_id, n))),
        }
        for n, part in enumerate(chunks(data))
    ]


def open_chunks(
    cipher: FieldCipher,
    tenant_id: str,
    file_id: str,
    stored: list[Document],
    expected_chunks: int,
    sha256: str,
) -> Assembled:
    """The file from its stored chunks; ``intact`` is false when any chunk was altered,
    moved, is missing or does not open at all (never an exception)."""
    try:
        parts = [
            (
                int(c["n"]),
                cipher.unseal(tenant_id, bytes(c["data"]), chunk_context(file_id, int(c["n"]))),
            )
            for c in stored
        ]
    except (InvalidTag, ValueError, TypeError, KeyError):
        return Assembled(b"", False)
    return assemble(parts, expected_chunks, sha256)


def checked_file(
    data: bytes, declared_type: str | None, content_digest: str | None
) -> tuple[str, str]:
    """(content type, SHA-256 hex) of an upload that may be stored; raises otherwise."""
    content_type = accepted_type(data, declared_type)
    digest = check_digest(data, content_digest)
    check_complete(data, content_type)
    return content_type, digest


class FileChunks(TenantRepository):
    """A service's sealed file chunks (its subclass names the collection)."""

    indexes = (IndexModel([("tenant_id", ASCENDING), ("file_id", ASCENDING)]),)

    async def insert_many(self, tenant_id: str, documents: list[Document]) -> None:
        # A few chunks per command: one 10 MB command would sit whole in memory twice.
        for start in range(0, len(documents), 8):
            batch = documents[start : start + 8]
            await self._collection.insert_many(
                [self._scope(tenant_id, d) for d in batch], ordered=True
            )

    async def of_file(self, tenant_id: str, file_id: str) -> list[Document]:
        cursor = self._collection.find(
            self._scope(tenant_id, {"file_id": file_id}), sort=[("n", ASCENDING)]
        )
        return [doc async for doc in cursor]

    async def discard(self, tenant_id: str, file_id: str) -> None:
        await self._collection.delete_many(self._scope(tenant_id, {"file_id": file_id}))


class DamagedFile(Conflict):
    """A stored file whose chunks no longer give back what was uploaded."""


async def keep_file(
    records: TenantRepository,
    chunks: FileChunks,
    cipher: FieldCipher,
    tenant_id: str,
    record: Document,
    data: bytes,
    declared_type: str | None,
    content_digest: str | None,
) -> Document:
    """Check an upload, seal and store its chunks, then its ``record`` (which the owning
    service fills with its own fields and an ``_id``), completed with what the file is.

    Hashing and sealing 10 MB is CPU work: it runs in a thread, off the event loop. The
    record is written last, so a failure half-way leaves no listed file (its chunks are
    discarded).
    """
    content_type, sha256 = await asyncio.to_thread(
        checked_file, data, declared_type, content_digest
    )
    file_id = str(record["_id"])
    sealed = await asyncio.to_thread(seal_chunks, cipher, tenant_id, file_id, data)
    complete = {
        **record,
        "content_type": content_type,
        "size_bytes": len(data),
        "sha256": sha256,
        "chunk_count": len(sealed),
        "status": "stored",
    }
    try:
        await chunks.insert_many(tenant_id, sealed)
        return await records.insert(tenant_id, complete)
    except BaseException:
        await chunks.discard(tenant_id, file_id)
        raise


async def read_back(
    chunks: FileChunks, cipher: FieldCipher, tenant_id: str, record: Document
) -> bytes:
    """The stored file's bytes; ``DamagedFile`` (409) when they are not what was uploaded."""
    stored = await chunks.of_file(tenant_id, str(record["_id"]))
    assembled = await asyncio.to_thread(
        open_chunks, cipher, tenant_id, str(record["_id"]), stored,
        int(record["chunk_count"]), str(record["sha256"]),
    )  # fmt: skip
    if not assembled.intact:
        raise DamagedFile(
            "the stored file does not match what was uploaded (altered or incomplete); "
            "it is not served",
            file_id=str(record["_id"]),
        )
    return assembled.data
