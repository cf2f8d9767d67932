"""The chart in Chromium: the medication, allergy and problem lists, and the client's
complete record downloaded as a PDF (HIPAA right of access).

Only identity, clinical, the gateway and the console run.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from console_support import (  # type: ignore[import-not-found]
    BROWSER,
    CHROMIUM_FLAGS,
    PASSWORD,
    shot,
    start_console,
)
from halcyon.shared.testing.servers import Servers
from playwright.async_api import Browser, async_playwright, expect

from tests.e2e.platform import Gateway, Platform, fresh_otp, run_dir

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def platform(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    running = Platform(servers, run_dir(tmp_path_factory, "console-lists"))
    try:
        running.start(services=("identity", "clinical"))
        start_console(running)
        yield running
    finally:
        running.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def gateway(platform: Platform) -> AsyncIterator[Gateway]:
    gw = Gateway(platform)
    yield gw
    await gw.aclose()


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        launched = await pw.chromium.launch(
            executable_path=BROWSER, args=CHROMIUM_FLAGS, headless=True
        )
        yield launched
        await launched.close()


async def test_the_chart_shows_the_lists_and_downloads_the_record(
    browser: Browser, gateway: Gateway
) -> None:
    admin = await gateway.bootstrap_agency("Halcyon Lists")
    site = await gateway.post(
        "/api/identity/sites",
        admin,
        json={"name": "Boulder clinic", "timezone": "America/Denver",
              "address": {"line1": "1 Pearl St", "city": "Boulder", "region": "CO",
                          "postal_code": "80302"}},
    )  # fmt: skip
    assert site.status_code == 201, site.text
    site_id = site.json()["id"]
    therapist = await gateway.add_staff(admin, "therapist", site_id, "Tess Therapist")
    await gateway.sign_in(therapist)
    client = await gateway.post(
        "/api/clinical/clients",
        therapist,
        json={"given_name": "Grace", "family_name": "Hopper", "date_of_birth": "1985-12-09",
              "home_site_id": site_id},
    )  # fmt: skip
    assert client.status_code == 201, client.text
    cid = client.json()["id"]
    for kind, body in (
        ("medications", {"name": "sertraline", "drug_class": "ssri", "dose": "100 mg daily",
                         "source": "client_reported", "verification_status": "confirmed"}),
        ("medications", {"name": "lithium", "source": "outside_record",
                         "verification_status": "entered_in_error"}),
        ("allergies", {"substance": "penicillin", "reaction": "hives", "criticality": "high",
                       "source": "outside_record"}),
        ("problems", {"code": "G47.00", "description": "Insomnia",
                      "source": "clinician_observed"}),
    ):  # fmt: skip
        made = await gateway.post(f"/api/clinical/clients/{cid}/{kind}", therapist, json=body)
        assert made.status_code == 201, made.text

    context = await browser.new_context(
        base_url=gateway.platform.gateway.url, accept_downloads=True
    )
    page = await context.new_page()
    await page.goto("/console/sign-in")
    await page.get_by_label("Email").fill(therapist.email)
    await page.get_by_label("Password").fill(PASSWORD)
    # Therapists read the chart, so they sign in with a second factor (ADR 0103).
    await page.get_by_label(re.compile("Authenticator code")).fill(await fresh_otp(therapist))
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Calendar")
    await page.goto(f"/console/clients/{cid}")
    lists = page.get_by_role("region", name="Medications, allergies and problems")
    await expect(lists).to_contain_text("sertraline 100 mg daily (SSRI)")
    await expect(lists).to_contain_text("penicillin: hives (high criticality)")
    await expect(lists).to_contain_text("G47.00 Insomnia")
    await expect(lists).not_to_contain_text("lithium")  # a mistake is not current
    await shot(page, "chart-lists")
    async with page.expect_download() as waiting:
        await page.get_by_role("link", name="PDF").click()
    download = await waiting.value
    path = await download.path()
    assert path is not None
    content = await asyncio.to_thread(path.read_bytes)
    assert content.startswith(b"%PDF-")
    assert b"sertraline" in content
    await context.close()


async def test_a_scanned_document_is_uploaded_listed_viewed_and_downloaded(
    browser: Browser, gateway: Gateway, tmp_path_factory: pytest.TempPathFactory
) -> None:
    admin = await gateway.bootstrap_agency("Halcyon Documents")
    site = await gateway.post(
        "/api/identity/sites",
        admin,
        json={"name": "Denver clinic", "timezone": "America/Denver",
              "address": {"line1": "2 Colfax Ave", "city": "Denver", "region": "CO",
                          "postal_code": "80202"}},
    )  # fmt: skip
    assert site.status_code == 201, site.text
    site_id = site.json()["id"]
    therapist = await gateway.add_staff(admin, "therapist", site_id, "Dana Documents")
    await gateway.sign_in(therapist)
    client = await gateway.post(
        "/api/clinical/clients",
        therapist,
        json={"given_name": "Ada", "family_name": "Lovelace", "date_of_birth": "1990-12-10",
              "home_site_id": site_id},
    )  # fmt: skip
    assert client.status_code == 201, client.text
    cid = client.json()["id"]
    scan = tmp_path_factory.mktemp("scans") / "roi-signed.pdf"
    pdf = b"%PDF-1.4\n% a signed release of information\n" + bytes(range(256)) * 40 + b"%%EOF\n"
    await asyncio.to_thread(scan.write_bytes, pdf)
    not_a_scan = scan.with_name("notes.html")
    await asyncio.to_thread(not_a_scan.write_bytes, b"<html><script>alert(1)</script></html>")

    context = await browser.new_context(
        base_url=gateway.platform.gateway.url, accept_downloads=True
    )
    page = await context.new_page()
    await page.goto("/console/sign-in")
    await page.get_by_label("Email").fill(therapist.email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_label(re.compile("Authenticator code")).fill(await fresh_otp(therapist))
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Calendar")
    await page.goto(f"/console/clients/{cid}")
    documents = page.get_by_role("region", name="Documents")
    await expect(documents).to_contain_text("No documents on file.")

    # A web page is refused, with the reason, and nothing is listed.
    await documents.get_by_label("Title").fill("Not a scan")
    await documents.get_by_label(re.compile("^File")).set_input_files(not_a_scan)
    await documents.get_by_role("button", name="Upload").click()
    await expect(page.get_by_role("alert")).to_contain_text("not a PDF, PNG, JPEG or TIFF")

    documents = page.get_by_role("region", name="Documents")
    await documents.get_by_label("Kind").select_option("release_of_information")
    await documents.get_by_label("Title").fill("ROI to Dr Núñez")
    await documents.get_by_label(re.compile("^File")).set_input_files(scan)
    await documents.get_by_role("button", name="Upload").click()
    documents = page.get_by_role("region", name="Documents")
    await expect(documents).to_contain_text("ROI to Dr Núñez")
    await expect(documents).to_contain_text("Release of information")
    await expect(documents).to_contain_text("roi-signed.pdf (PDF")
    await expect(documents).not_to_contain_text("Not a scan")
    await shot(page, "chart-documents")

    # "View" is the file shown by the browser; "Download" saves the same bytes.
    view = await documents.get_by_role("link", name="View").get_attribute("href")
    assert view is not None
    shown = await context.request.get(view)
    assert shown.status == 200
    assert shown.headers["content-type"] == "application/pdf"
    assert shown.headers["content-disposition"].startswith("inline;")
    assert await shown.body() == pdf
    async with page.expect_download() as waiting:
        await documents.get_by_role("link", name="Download").click()
    download = await waiting.value
    assert download.suggested_filename == "roi-signed.pdf"
    path = await download.path()
    assert path is not None
    assert await asyncio.to_thread(path.read_bytes) == pdf
    await context.close()


async def test_an_admin_files_a_staff_members_scanned_licence(
    browser: Browser, gateway: Gateway, tmp_path_factory: pytest.TempPathFactory
) -> None:
    admin = await gateway.bootstrap_agency("Halcyon Credentials")
    site = await gateway.post(
        "/api/identity/sites",
        admin,
        json={"name": "Fort Collins", "timezone": "America/Denver",
              "address": {"line1": "3 College Ave", "city": "Fort Collins", "region": "CO",
                          "postal_code": "80524"}},
    )  # fmt: skip
    assert site.status_code == 201, site.text
    await gateway.add_staff(admin, "therapist", site.json()["id"], "Lee Licensed")
    scan = tmp_path_factory.mktemp("licences") / "lpc-licence.pdf"
    pdf = b"%PDF-1.4\n% LPC licence\n" + bytes(range(256)) * 20 + b"%%EOF\n"
    await asyncio.to_thread(scan.write_bytes, pdf)

    context = await browser.new_context(base_url=gateway.platform.gateway.url)
    page = await context.new_page()
    await page.goto("/console/sign-in")
    await page.get_by_label("Email").fill(admin.email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_label(re.compile("Authenticator code")).fill(await fresh_otp(admin))
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", level=1)).to_be_visible()
    await page.goto("/console/admin")
    await page.get_by_role("link", name="Credential files of Lee Licensed").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Lee Licensed")
    files = page.get_by_role("region", name="Files on record")
    await expect(files).to_contain_text("No files on record.")
    await files.get_by_label("Kind").select_option("licence")
    await files.get_by_label("Title").fill("Colorado LPC")
    await files.get_by_label("Expires on").fill("2027-06-30")
    await files.get_by_label(re.compile("^File")).set_input_files(scan)
    await files.get_by_role("button", name="Upload").click()
    await expect(page.get_by_role("status")).to_contain_text("Colorado LPC uploaded.")
    files = page.get_by_role("region", name="Files on record")
    await expect(files).to_contain_text("2027-06-30")
    await expect(files).to_contain_text("lpc-licence.pdf (PDF")
    view = await files.get_by_role("link", name="View").get_attribute("href")
    assert view is not None
    shown = await context.request.get(view)
    assert shown.status == 200
    assert await shown.body() == pdf
    assert shown.headers["content-disposition"].startswith("inline;")
    await shot(page, "admin-credential-files")
    await context.close()
