"""Scanned credential files of staff (issue 21, item 2): uploaded by the person or an admin
of their sites, read by them and compliance, refused for anyone else, sealed, audited."""

from __future__ import annotations

import httpx
import pytest
from halcyon.shared.mongo import Document
from pymongo import AsyncMongoClient

from services.identity.tests.identity_testkit import SITE, add_staff, create_agency, start_identity
from tests.fixtures import StartService

pytestmark = pytest.mark.integration
LICENCE = b"%PDF-1.7\n% Colorado LPC licence 0012345\n" + bytes(range(256)) * 2000 + b"%%EOF\n"


async def test_a_scanned_licence_is_kept_for_its_holder_and_their_admins_only(
    start_service: StartService, mongo_client: AsyncMongoClient[Document], unique: str
) -> None:
    identity = start_identity(start_service)
    async with httpx.AsyncClient(base_url=identity.url, timeout=30) as http:
        agency = await create_agency(http)
        site = (await http.post("/sites", json=SITE, headers=agency.admin.headers)).json()["id"]
        other_site = (await http.post("/sites", json=SITE, headers=agency.admin.headers)).json()[
            "id"
        ]
        therapist = await add_staff(http, agency, "therapist", site)
        colleague = await add_staff(http, agency, "therapist", site)
        officer = await add_staff(http, agency, "compliance_officer", "*")
        other_admin = await add_staff(http, agency, "agency_admin", other_site)

        async def send(who: dict[str, str], data: bytes, **params: str) -> httpx.Response:
            return await http.post(
                f"/staff/{therapist.id}/credential-files",
                content=data,
                params={"kind": "licence", "title": "LPC licence", **params},
                headers={**who, "Content-Type": "application/pdf"},
            )

        mine = await send(therapist.headers, LICENCE, expires_on="2027-06-30", filename="lpc.pdf")
        assert mine.status_code == 201, mine.text
        file_id = mine.json()["id"]
        assert mine.json()["expires_on"] == "2027-06-30"
        by_admin = await send(agency.admin.headers, LICENCE, kind="insurance", title="Malpractice")
        assert by_admin.status_code == 201

        listing = f"/staff/{therapist.id}/credential-files"
        for reader in (therapist, officer, agency.admin):
            listed = await http.get(listing, headers=reader.headers)
            assert listed.status_code == 200
            assert {f["title"] for f in listed.json()["items"]} == {"LPC licence", "Malpractice"}
        got = await http.get(f"/credential-files/{file_id}/content", headers=officer.headers)
        assert got.status_code == 200
        assert got.content == LICENCE
        assert got.headers["content-disposition"] == "attachment; filename*=UTF-8''lpc.pdf"

        # A colleague and an admin of another site see nothing and add nothing.
        for outsider in (colleague, other_admin):
            assert (await http.get(listing, headers=outsider.headers)).status_code == 403
            content = await http.get(
                f"/credential-files/{file_id}/content", headers=outsider.headers
            )
            assert content.status_code == 403
            assert (await send(outsider.headers, LICENCE)).status_code == 403
        # Not a PDF or image, or cut off: refused, nothing kept.
        html = await send(therapist.headers, b"<html><script>alert(1)</script></html>")
        assert html.status_code == 415
        cut = await send(therapist.headers, LICENCE[:5000])
        assert cut.status_code == 422

        stranger_agency = await create_agency(http, "Elsewhere")
        for path in (listing, f"/credential-files/{file_id}/content"):
            hidden = await http.get(path, headers=stranger_agency.admin.headers)
            assert hidden.status_code == 404, path

    database = mongo_client[f"t_{unique}_identity"]
    assert await database["credential_files"].count_documents({"tenant_id": agency.id}) == 2
    chunks = [c async for c in database["credential_file_chunks"].find({"tenant_id": agency.id})]
    assert chunks
    assert all(b"LPC licence" not in bytes(c["data"]) for c in chunks)
