"""The shared file rules (chart documents, credential files): what a file is, digests,
end markers, chunks and their seals (issue 21, item 2)."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.exceptions import InvalidTag
from halcyon.shared import files as rules
from halcyon.shared.crypto import FieldCipher
from halcyon.shared.errors import RuleViolation
from hypothesis import given
from hypothesis import strategies as st


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"%PDF-1.7\n", "application/pdf"),
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"\xff\xd8\xff\xe0", "image/jpeg"),
        (b"II*\x00", "image/tiff"),
        (b"MM\x00*", "image/tiff"),
    ],
)
def test_files_are_recognised_by_their_bytes(head: bytes, kind: str) -> None:
    assert rules.accepted_type(head + b"rest", None) == kind
    assert rules.accepted_type(head + b"rest", "application/octet-stream") == kind


@pytest.mark.parametrize(
    "body",
    [b"<!DOCTYPE html>", b"<svg/>", b"PK\x03\x04", b"MZ\x90\x00", b" %PDF-1.4", b"GIF89a"],
)
def test_anything_else_is_refused_whatever_it_claims(body: bytes) -> None:
    with pytest.raises(rules.UnsupportedFile):
        rules.accepted_type(body, "application/pdf")


def test_a_declared_type_that_disagrees_is_refused_and_aliases_are_not() -> None:
    with pytest.raises(rules.UnsupportedFile):
        rules.accepted_type(b"%PDF-1.4", "image/png")
    assert rules.accepted_type(b"\xff\xd8\xff\xdb", "image/jpg") == "image/jpeg"
    assert rules.accepted_type(b"%PDF-1.4", "Application/PDF; charset=binary") == "application/pdf"
    with pytest.raises(RuleViolation):
        rules.accepted_type(b"", "application/pdf")


@given(st.binary(min_size=1, max_size=2000), st.integers(min_value=0, max_value=1999))
def test_a_digest_matches_only_the_whole_file(data: bytes, cut: int) -> None:
    header = "sha-256=:" + base64.b64encode(hashlib.sha256(data).digest()).decode() + ":"
    assert rules.check_digest(data, header) == hashlib.sha256(data).hexdigest()
    if cut < len(data):
        with pytest.raises(RuleViolation):
            rules.check_digest(data[:cut], header)


GOOD = "sha-256=:" + base64.b64encode(hashlib.sha256(b"data").digest()).decode() + ":"


@pytest.mark.parametrize(
    "header",
    [
        "sha-256=abc", "md5=:AAAA:", "sha-256=:not base64!:", "", "sha-512=:AAAA:",
        f"{GOOD}, sha-256=garbage",  # one unreadable member spoils the header
        "sha-256=:AAAA:",  # not 32 bytes
    ],
)  # fmt: skip
def test_an_unreadable_digest_is_refused(header: str) -> None:
    with pytest.raises(RuleViolation):
        rules.check_digest(b"data", header)


@pytest.mark.parametrize("header", [GOOD, f"{GOOD};x=1", f"sha-512=:AAAA:, {GOOD}", f" {GOOD} "])
def test_a_readable_digest_with_parameters_or_other_algorithms_is_checked(header: str) -> None:
    assert rules.check_digest(b"data", header) == hashlib.sha256(b"data").hexdigest()


@pytest.mark.parametrize(
    ("whole", "kind"),
    [
        (b"%PDF-1.7\n" + bytes(5000) + b"%%EOF\r\n", "application/pdf"),
        (b"\x89PNG\r\n\x1a\n" + bytes(5000) + b"\x00\x00\x00\x00IEND\xaeB`\x82", "image/png"),
        (b"\xff\xd8\xff\xe0" + bytes(5000) + b"\xff\xd9", "image/jpeg"),
    ],
)
def test_a_file_cut_before_its_end_marker_is_refused(whole: bytes, kind: str) -> None:
    rules.check_complete(whole, kind)
    # Cut inside the end marker (a PDF's line break after %%EOF is not part of it).
    for cut in (len(whole) - 4, len(whole) // 2, 5):
        with pytest.raises(RuleViolation, match="cut off"):
            rules.check_complete(whole[:cut], kind)
    rules.check_complete(b"II*\x00" + bytes(10), "image/tiff")  # TIFF has no end marker


@given(st.binary(max_size=3 * rules.CHUNK_BYTES + 7))
def test_chunks_reassemble_to_the_file_in_any_order(data: bytes) -> None:
    parts = list(enumerate(rules.chunks(data)))
    assert all(len(p) <= rules.CHUNK_BYTES for _, p in parts)
    digest = hashlib.sha256(data).hexdigest()
    assembled = rules.assemble(list(reversed(parts)), len(parts), digest)
    assert assembled.intact
    assert assembled.data == data
    if parts:
        assert not rules.assemble(parts[:-1], len(parts), digest).intact


def test_a_sealed_chunk_opens_only_for_its_agency_and_place() -> None:
    cipher = FieldCipher("a-development-secret-of-some-length")
    sealed = cipher.seal("agency-a", b"chunk", rules.chunk_context("doc-1", 0))
    assert cipher.unseal("agency-a", sealed, rules.chunk_context("doc-1", 0)) == b"chunk"
    for tenant, context in [
        ("agency-b", rules.chunk_context("doc-1", 0)),  # another agency's key
        ("agency-a", rules.chunk_context("doc-2", 0)),  # moved to another document
        ("agency-a", rules.chunk_context("doc-1", 1)),  # moved to another place
    ]:
        with pytest.raises(InvalidTag):
            cipher.unseal(tenant, sealed, context)
