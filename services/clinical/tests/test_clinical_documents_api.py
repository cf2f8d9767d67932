"""Documents in a chart (issue 21, item 2): upload, list, download, audit; sealed at rest;
only PDFs and images, recognised by their bytes; size-limited; invisible to other agencies."""

from __future__ import annotations

import base64
import hashlib
import os
from typing import Any

import pytest
from clinical_testkit import (  # type: ignore[import-not-found]
    ClinicalHarness,
    clinical,
    new_tenant,
    register,
)

pytestmark = pytest.mark.integration
__all__ = ["clinical"]

# A small but real PDF, and random bytes after its header so no two uploads are alike.
PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n" + os.urandom(600_000)
PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(2_000) + b"\x00\x00\x00\x00IEND\xaeB`\x82"
MARKER = b"CONSENT-TO-RELEASE-TO-DR-NUNEZ"
EOF = b"\n%%EOF\n"


def digest(data: bytes) -> str:
    return "sha-256=:" + base64.b64encode(hashlib.sha256(data).digest()).decode() + ":"


async def upload(
    h: ClinicalHarness, headers: dict[str, str], client_id: str, data: bytes, **extra: Any
) -> Any:
    content_type = extra.pop("content_type", "application/pdf")
    params = {"category": "release_of_information", "title": "ROI to Dr Núñez", **extra}
    return await h.http.post(
        f"/clients/{client_id}/documents",
        content=data,
        params=params,
        headers={**headers, "Content-Type": content_type},
    )


async def test_a_scanned_release_is_stored_sealed_listed_and_served_back_audited(
    clinical: ClinicalHarness,
) -> None:
    tenant = new_tenant()
    client = await register(clinical, tenant)
    cid = client["id"]
    desk = clinical.headers(tenant, "desk-1", ("site-1", "front_desk"))
    therapist = clinical.headers(tenant, "ther-1", ("site-1", "therapist"))
    data = PDF + MARKER + EOF

    made = await upload(
        clinical, {**desk, "Content-Digest": digest(data)}, cid, data, filename="roi scan.pdf"
    )
    assert made.status_code == 201, made.text
    document = made.json()
    assert document["content_type"] == "application/pdf"
    assert document["size_bytes"] == len(data)
    assert document["sha256"] == hashlib.sha256(data).hexdigest()
    assert document["uploaded_by"] == "desk-1"

    listed = await clinical.http.get(f"/clients/{cid}/documents", headers=therapist)
    assert listed.status_code == 200
    assert [d["id"] for d in listed.json()["items"]] == [document["id"]]

    got = await clinical.http.get(f"/documents/{document['id']}/content", headers=therapist)
    assert got.status_code == 200
    assert got.content == data
    assert got.headers["content-type"] == "application/pdf"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-disposition"].startswith("attachment;")
    assert "roi%20scan.pdf" in got.headers["content-disposition"]
    assert "sandbox" in got.headers["content-security-policy"]
    preview = await clinical.http.get(
        f"/documents/{document['id']}/content",
        params={"disposition": "inline"},
        headers=therapist,
    )
    assert preview.headers["content-disposition"].startswith("inline;")

    # The client's record (right of access) lists it, pointing at its audited download.
    record = await clinical.http.get(f"/clients/{cid}/record", headers=therapist)
    assert record.status_code == 200, record.text
    [reference] = [
        e["resource"] for e in record.json()["entry"]
        if e["resource"]["resourceType"] == "DocumentReference"
        and e["resource"]["id"] == document["id"]
    ]  # fmt: skip
    attachment = reference["content"][0]["attachment"]
    assert attachment["url"] == f"documents/{document['id']}/content"
    assert (attachment["contentType"], attachment["size"]) == ("application/pdf", len(data))
    assert reference["description"] == "ROI to Dr Núñez"

    # At rest the bytes are sealed: the database holds neither the text nor the file.
    chunks = [c async for c in clinical.database["document_chunks"].find({"tenant_id": tenant})]
    assert len(chunks) == 3  # 600 kB in 255 kB chunks
    assert all(MARKER not in bytes(c["data"]) and b"%PDF" not in bytes(c["data"]) for c in chunks)

    def audited(envelopes: list[dict[str, Any]]) -> set[tuple[object, ...]]:
        return {
            (e["data"]["user_id"], e["data"]["action"], e["data"]["resource"],
             e["data"]["resource_id"], e["data"]["client_id"], e["data"]["outcome"])
            for e in envelopes
            if e["tenantid"] == tenant
        }  # fmt: skip

    doc_id = document["id"]
    expected = {
        ("desk-1", "create", "clinical/document", doc_id, cid, "success"),
        ("ther-1", "read", "clinical/documents", None, cid, "success"),
        ("ther-1", "read", "clinical/document", doc_id, cid, "success"),
    }
    published = await clinical.events(
        "audit.access.v1", until=lambda seen: expected <= audited(seen)
    )
    assert expected <= audited(published)
    downloads = [
        e for e in published
        if e["tenantid"] == tenant and e["data"]["resource"] == "clinical/document"
        and e["data"]["action"] == "read"
    ]  # fmt: skip
    assert len(downloads) == 2  # the download and the preview, each on record


@pytest.mark.parametrize(
    ("body", "declared", "why"),
    [
        (b"<html><script>alert(1)</script></html>", "application/pdf", "html sent as a PDF"),
        (b"MZ\x90\x00" + os.urandom(100), "application/octet-stream", "a Windows program"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "image/svg+xml", "SVG can hold script"),
        (PNG, "application/pdf", "a PNG declared as a PDF"),
    ],
)
async def test_only_pdfs_and_images_recognised_by_their_bytes_are_accepted(
    clinical: ClinicalHarness, body: bytes, declared: str, why: str
) -> None:
    tenant = new_tenant()
    client = await register(clinical, tenant)
    desk = clinical.headers(tenant, "desk-1", ("site-1", "front_desk"))
    refused = await upload(clinical, desk, client["id"], body, content_type=declared)
    assert refused.status_code == 415, why
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"].endswith("/unsupported-document-type")
    assert await clinical.database["document_chunks"].count_documents({"tenant_id": tenant}) == 0
    assert await clinical.database["documents"].count_documents({"tenant_id": tenant}) == 0


async def test_oversized_cut_off_and_empty_uploads_store_nothing(
    clinical: ClinicalHarness,
) -> None:
    tenant = new_tenant()
    client = await register(clinical, tenant)
    desk = clinical.headers(tenant, "desk-1", ("site-1", "front_desk"))
    too_big = b"%PDF-1.7\n" + bytes(10 * 1024 * 1024)
    big = await upload(clinical, desk, client["id"], too_big)
    assert big.status_code == 413

    # The upload that lost its end on the way: the digest of the whole file says so, and
    # without a digest the missing end-of-file marker does.
    whole = PDF + MARKER + EOF
    cut = await upload(
        clinical, {**desk, "Content-Digest": digest(whole)}, client["id"], whole[:300_000]
    )
    assert cut.status_code == 422
    assert "Content-Digest" in cut.json()["detail"]
    unsigned = await upload(clinical, desk, client["id"], whole[:300_000])
    assert unsigned.status_code == 422
    assert "cut off" in unsigned.json()["detail"]
    # A title or file name of nothing but (Unicode) spaces names nothing.
    for blank in ({"title": "\u00a0"}, {"title": "  "}, {"filename": "\u3000"}):
        refused = await upload(clinical, desk, client["id"], whole, **blank)
        assert refused.status_code == 422, blank
    two_lines = await upload(clinical, desk, client["id"], whole, title="a\r\nb")
    assert two_lines.status_code == 422
    malformed = await upload(
        clinical, {**desk, "Content-Digest": "sha-256=abc"}, client["id"], whole
    )
    assert malformed.status_code == 422

    empty = await upload(clinical, desk, client["id"], b"")
    assert empty.status_code == 422
    assert await clinical.database["document_chunks"].count_documents({"tenant_id": tenant}) == 0
    assert await clinical.database["documents"].count_documents({"tenant_id": tenant}) == 0


async def test_another_agency_and_the_wrong_roles_get_nothing(clinical: ClinicalHarness) -> None:
    tenant, other = new_tenant(), new_tenant()
    client = await register(clinical, tenant)
    cid = client["id"]
    desk = clinical.headers(tenant, "desk-1", ("site-1", "front_desk"))
    made = await upload(clinical, desk, cid, PNG, content_type="image/png", category="other")
    assert made.status_code == 201, made.text
    doc_id = made.json()["id"]

    stranger = clinical.headers(other, "ther-9", ("*", "therapist"))
    for path in (
        f"/documents/{doc_id}",
        f"/documents/{doc_id}/content",
        f"/clients/{cid}/documents",
    ):
        assert (await clinical.http.get(path, headers=stranger)).status_code == 404, path
    assert (await upload(clinical, stranger, cid, PNG, content_type="image/png")).status_code == 404

    biller = clinical.headers(tenant, "bill-1", ("site-1", "biller"))
    elsewhere = clinical.headers(tenant, "ther-2", ("site-2", "therapist"))
    for caller in (biller, elsewhere, desk):  # front desk files papers, does not read charts
        got = await clinical.http.get(f"/documents/{doc_id}/content", headers=caller)
        assert got.status_code == 403
    assert (await upload(clinical, biller, cid, PNG, content_type="image/png")).status_code == 403

    # A chunk altered in place makes the file refused, never served altered.
    chunk = await clinical.database["document_chunks"].find_one({"file_id": doc_id})
    assert chunk is not None
    sealed = bytearray(chunk["data"])
    sealed[-1] ^= 0x01
    await clinical.database["document_chunks"].update_one(
        {"_id": chunk["_id"]}, {"$set": {"data": bytes(sealed)}}
    )
    therapist = clinical.headers(tenant, "ther-1", ("site-1", "therapist"))
    tampered = await clinical.http.get(f"/documents/{doc_id}/content", headers=therapist)
    assert tampered.status_code == 409
    assert b"\x89PNG" not in tampered.content
    for broken in (b"abc", "not bytes at all"):  # too short to hold a nonce; not binary
        await clinical.database["document_chunks"].update_one(
            {"_id": chunk["_id"]}, {"$set": {"data": broken}}
        )
        again = await clinical.http.get(f"/documents/{doc_id}/content", headers=therapist)
        assert again.status_code == 409, again.text

    def audited(envelopes: list[dict[str, Any]]) -> set[tuple[object, ...]]:
        return {
            (e["tenantid"], e["data"]["user_id"], e["data"]["resource_id"], e["data"]["outcome"])
            for e in envelopes
            if e["data"]["resource"] == "clinical/document"
        }

    expected = {
        (other, "ther-9", doc_id, "failed"),
        (tenant, "bill-1", doc_id, "denied"),
        (tenant, "ther-1", doc_id, "denied"),  # the integrity failure is on record
    }
    published = await clinical.events(
        "audit.access.v1", until=lambda seen: expected <= audited(seen)
    )
    assert expected <= audited(published)
