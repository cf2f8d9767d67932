"""The staff console in headless Chromium, through the gateway, on the whole platform.

Each test is what a person does at the clinic: sign in (with TOTP for an MFA role),
book a dosing session from a free slot, record vitals and see the alert, write and sign
a note, record a waste with two witnesses, download a DEA report; and a person of
another agency sees none of it. `make screenshots` runs this file with
HALCYON_SCREENSHOTS_DIR=docs/screenshots.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from console_support import (  # type: ignore[import-not-found]
    BROWSER,
    CHROMIUM_FLAGS,
    PASSWORD,
    Agency,
    Otp,
    prepare_agency,
    shot,
    start_console,
)
from halcyon.shared.testing.servers import Servers
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from tests.e2e.journey import ok, register_client
from tests.e2e.platform import Gateway, Person, Platform, run_dir

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]
STATE: dict[str, Any] = {}
DENVER = ZoneInfo("America/Denver")


@pytest.fixture(scope="module")
def platform(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    running = Platform(servers, run_dir(tmp_path_factory, "console"))
    try:
        running.start()
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
async def agency(gateway: Gateway) -> Agency:
    return await prepare_agency(gateway, "Halcyon Boulder")


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        # Playwright gives every launch a fresh temporary --user-data-dir of its own (it
        # refuses one passed in args), so runs never share a profile.
        launched = await pw.chromium.launch(
            executable_path=BROWSER, args=CHROMIUM_FLAGS, headless=True
        )
        yield launched
        await launched.close()


OTP = Otp()

UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea')]
  .filter(e => e.type !== 'hidden')
  .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
  .map(e => e.name || e.id)"""


async def assert_accessible_basics(page: Page) -> None:
    """Every visible input has a label, and a focused control shows a visible outline."""
    assert await page.evaluate(UNLABELLED) == []
    await page.wait_for_load_state("load")
    await page.keyboard.press("Tab")
    await page.keyboard.press("Tab")
    # After a redirect to a fragment (#note-…) the first Tabs can land on the document
    # itself while the page settles; keep tabbing until a control has the focus.
    for _ in range(8):
        if await page.evaluate("() => document.activeElement !== document.body"):
            break
        await page.keyboard.press("Tab")
    outline = await page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline not in ("none", ""), outline


async def signed_in(
    browser: Browser, gw: Gateway, person: Person, width: int = 1280
) -> tuple[BrowserContext, Page]:
    context = await browser.new_context(
        base_url=gw.platform.gateway.url, viewport={"width": width, "height": 900}
    )
    page = await context.new_page()
    await page.goto("/console/sign-in")
    await page.get_by_label("Email").fill(person.email)
    await page.get_by_label("Password").fill(PASSWORD)
    if person.totp_secret:
        code = await OTP.code(person, first_used_at=STATE.get("signed_up_at"))
        await page.get_by_label(re.compile("Authenticator code")).fill(code)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Calendar")
    return context, page


async def test_sign_in_with_totp_and_sign_out(
    browser: Browser, gateway: Gateway, agency: Agency
) -> None:
    import time

    STATE["signed_up_at"] = time.time()  # add_staff signed each MFA user in just now
    nurse = agency.course.staff.nurse
    context = await browser.new_context(base_url=gateway.platform.gateway.url)
    page = await context.new_page()
    await page.goto("/console/calendar")
    assert page.url.endswith("/console/sign-in")  # not signed in: sent to sign in
    await shot(page, "01-sign-in")
    # Without the authenticator code the nurse is refused, in words; the email stays.
    await page.get_by_label("Email").fill(nurse.email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_be_visible()
    assert "Traceback" not in await page.content()
    await expect(page.get_by_label("Email")).to_have_value(nurse.email)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_label(re.compile("Authenticator code")).fill(
        await OTP.code(nurse, first_used_at=STATE["signed_up_at"])
    )
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Calendar")
    await expect(page.get_by_label("Site")).to_be_visible()
    # The session cookie is HttpOnly, SameSite=Strict and holds no token.
    [cookie] = [c for c in await context.cookies() if c["name"] == "halcyon_console"]
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Strict"
    assert "eyJ" not in cookie["value"]
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("status")).to_contain_text("signed out")
    await page.goto("/console/calendar")
    assert page.url.endswith("/console/sign-in")
    await context.close()


async def test_front_desk_books_a_dosing_session_from_a_free_slot(
    browser: Browser, gateway: Gateway, agency: Agency
) -> None:
    s = agency.course.staff
    context, page = await signed_in(browser, gateway, s.front_desk)
    # Refused: a client without informed consent or screening; the reasons in words.
    day = (datetime.now(DENVER).date() + timedelta(days=7)).isoformat()
    await page.goto(
        f"/console/book?client_id={agency.other_client_id}&appointment_type=mdma_dosing&day={day}"
    )
    await page.get_by_role("button", name=re.compile("^Book ")).first.click()
    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text(re.compile("consent", re.I))
    await shot(page, "03-booking-refused")
    # Booked: the client who is ready, from the first free slot of next week.
    await page.goto("/console/book?day=" + day)
    await page.get_by_label(re.compile("Find the client by family name")).fill("Hop")
    await page.get_by_role("button", name="Search").click()
    await page.get_by_role("link", name=re.compile("Grace Hopper")).click()
    await page.get_by_label("Appointment type").select_option("mdma_dosing")
    await page.get_by_role("button", name="Find free slots").click()
    await shot(page, "02-free-slots")
    await page.get_by_role("button", name=re.compile("^Book ")).first.click()
    await expect(page.get_by_role("status")).to_contain_text("Booked")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Mdma dosing")
    await expect(page.get_by_text("Michael Mithoefer")).to_be_visible()
    await expect(page.get_by_text("Annie Mithoefer")).to_be_visible()
    STATE["dosing_id"] = page.url.rsplit("/", 1)[-1].split("?")[0]
    # The week calendar by room shows it in the dosing suite.
    await page.goto(f"/console/calendar?day={day}&view=week&by=room")
    await expect(
        page.get_by_role("link", name=re.compile("Grace Hopper mdma dosing"))
    ).to_be_visible()
    await shot(page, "04-calendar-week-by-room")
    await assert_accessible_basics(page)
    await page.set_viewport_size({"width": 820, "height": 1100})  # tablet
    await shot(page, "04b-calendar-tablet")
    # Cancelled with a reason: without one it is refused and nothing changes.
    await page.goto(
        f"/console/book?client_id={agency.other_client_id}&appointment_type=psychotherapy&day={day}"
    )
    await page.get_by_role("button", name=re.compile("^Book ")).first.click()
    await expect(page.get_by_role("status")).to_contain_text("Booked")
    # Rescheduled by editing its start, in the site's local time.
    new_day = (datetime.now(DENVER).date() + timedelta(days=8)).isoformat()
    await page.get_by_label(re.compile("New start")).fill(f"{new_day}T14:00")
    await page.get_by_role("button", name="Move appointment").click()
    await expect(page.locator("dd").first).to_contain_text(f"{new_day} 14:00")
    await page.get_by_label("Reason for cancelling").fill("   ")
    await page.get_by_role("button", name="Cancel appointment").click()
    await expect(page.get_by_role("alert")).to_contain_text("Give a reason")
    await page.get_by_label("Reason for cancelling").fill("client has the flu")
    await page.get_by_role("button", name="Cancel appointment").click()
    await expect(page.locator("dd").filter(has_text="cancelled")).to_contain_text(
        "client has the flu"
    )
    await context.close()


async def test_nurse_records_vitals_and_sees_the_alert_live(
    browser: Browser, gateway: Gateway, agency: Agency
) -> None:
    s = agency.course.staff
    appointment = STATE["dosing_id"]
    context, page = await signed_in(browser, gateway, s.nurse)
    await page.goto(f"/console/appointments/{appointment}")
    await page.get_by_role("button", name="Check in").click()
    await page.get_by_role("button", name="Start").click()
    await expect(page.locator("dd").filter(has_text="started")).to_be_visible()
    await page.get_by_role("link", name="Live session view").click()
    await expect(page.locator(".therapists li")).to_have_count(2)
    await expect(page.locator(".clock")).to_have_text(re.compile(r"^\d\d:\d\d:\d\d$"))
    for systolic, diastolic, pulse in ((128, 82, 88), (172, 96, 108)):
        await page.get_by_label("Systolic (mmHg)").fill(str(systolic))
        await page.get_by_label("Diastolic (mmHg)").fill(str(diastolic))
        await page.get_by_label("Pulse (/min)").fill(str(pulse))
        await page.get_by_role("button", name="Record reading").click()
    await expect(page.get_by_role("status")).to_contain_text("ALERT: systolic 172 > 160")
    await expect(page.locator(".alerts")).to_contain_text("systolic 172 > 160")
    # The chart draws both readings and the protocol's threshold line.
    await expect(page.locator("svg.chart circle")).to_have_count(6)
    await expect(page.locator("svg.chart")).to_contain_text("systolic 160")
    # A dose with a witness, from the safe.
    await page.get_by_label("Dose (mg)").fill("120")
    await page.get_by_label("Administered by").select_option(s.nurse.id)
    await page.get_by_label("Witness").select_option(s.lead.id)
    await page.get_by_label("Prescriber").select_option(s.prescriber.id)
    await page.get_by_role("button", name="Record administration").click()
    await expect(page.locator(".done, .problem")).to_be_visible()
    await shot(page, "05-dosing-session-live")
    await assert_accessible_basics(page)
    # A bad value is refused in words, and what was typed stays in the form.
    await page.get_by_label("Systolic (mmHg)").fill("400")
    await page.get_by_label("Pulse (/min)").fill("90")
    await page.locator("form[action$='/vitals']").evaluate("f => f.noValidate = true")
    await page.get_by_role("button", name="Record reading").click()
    await expect(page.get_by_role("alert")).to_contain_text(re.compile("systolic", re.I))
    await expect(page.get_by_label("Pulse (/min)")).to_have_value("90")
    await context.close()


async def test_therapist_writes_a_note_from_a_template_and_signs_it(
    browser: Browser, gateway: Gateway, agency: Agency
) -> None:
    s = agency.course.staff
    context, page = await signed_in(browser, gateway, s.lead)
    await page.goto(f"/console/clients/{agency.client_id}")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Grace Hopper")
    await expect(page.locator("figure svg.chart")).to_have_count(1)  # PHQ-9 trend
    await page.get_by_label("Template", exact=True).select_option("builtin:progress-dap")
    await page.get_by_role("button", name="Use template").click()
    now = datetime.now(DENVER).replace(second=0, microsecond=0)
    await page.get_by_label("Started (site time)").fill((now - timedelta(hours=1)).isoformat()[:16])
    await page.get_by_label("Ended (site time)").fill(now.isoformat()[:16])
    await page.get_by_label("Diagnoses").fill("F43.10")
    await page.get_by_label("Minutes of psychotherapy").fill("53")
    await page.get_by_label("Data", exact=True).fill("Sleeping better; fewer nightmares.")
    await page.get_by_label("Assessment", exact=True).fill("Improving.")
    await page.get_by_label("Plan", exact=True).fill("Continue weekly.")
    await page.get_by_role("button", name="Save draft").click()
    note = page.locator("article.note").filter(has_text="Sleeping better")
    await expect(note).to_contain_text("draft")
    await note.get_by_role("button", name="Sign note").click()
    note = page.locator("article.note").filter(has_text="Sleeping better")
    await expect(note.locator(".status")).to_have_text("signed")
    await shot(page, "06-client-chart")
    await assert_accessible_basics(page)
    # A signed note is corrected only by a signed addendum.
    await note.get_by_text("Add an addendum").click()
    await note.get_by_label("Addendum").fill("Also reports better appetite.")
    await note.get_by_label("Reason").fill("omitted in the session")
    await note.get_by_role("button", name="Sign addendum").click()
    await expect(page.get_by_text("Also reports better appetite.").first).to_be_visible()
    await context.close()


async def test_supervised_therapist_signs_and_the_supervisor_co_signs(
    browser: Browser, gateway: Gateway, agency: Agency
) -> None:
    s = agency.course.staff
    context, page = await signed_in(browser, gateway, s.second)
    await page.goto(f"/console/clients/{agency.client_id}")
    now = datetime.now(DENVER).replace(second=0, microsecond=0)
    await page.get_by_label("Started (site time)").fill((now - timedelta(hours=1)).isoformat()[:16])
    await page.get_by_label("Ended (site time)").fill(now.isoformat()[:16])
    await page.get_by_label("Diagnoses").fill("F43.10")
    await page.get_by_label("Minutes of psychotherapy").fill("45")
    for label, text in (
        ("Subjective", "Anxious before the session."),
        ("Objective", "Calm, engaged."),
        ("Assessment", "Stable."),
        ("Plan", "Supervision review."),
    ):
        await page.get_by_label(label, exact=True).fill(text)
    await page.get_by_role("button", name="Save draft").click()
    note = page.locator("article.note").filter(has_text="Anxious before the session.")
    await note.get_by_role("button", name="Sign note").click()
    note = page.locator("article.note").filter(has_text="Anxious before the session.")
    await expect(note.locator(".status")).to_have_text("awaiting cosign")
    await context.close()
    context, page = await signed_in(browser, gateway, s.lead)
    await page.goto(f"/console/clients/{agency.client_id}")
    note = page.locator("article.note").filter(has_text="Anxious before the session.")
    await note.get_by_role("button", name="Co-sign note").click()
    note = page.locator("article.note").filter(has_text="Anxious before the session.")
    await expect(note.locator(".status")).to_have_text("signed")
    await expect(note).to_contain_text("co-signed")
    await context.close()


async def test_compliance_officer_wastes_with_two_witnesses_and_downloads_a_report(
    browser: Browser, gateway: Gateway, agency: Agency
) -> None:
    s = agency.course.staff
    context, page = await signed_in(browser, gateway, s.compliance)
    await page.goto("/console/inventory")
    await expect(page.get_by_text("verified intact")).to_be_visible()
    waste = page.locator("form[action$='/inventory/wastes']")
    await waste.get_by_label("Quantity wasted (mg)").fill("10")
    await waste.get_by_label("Method").fill("rendered non-retrievable (Rx Destroyer)")
    await waste.get_by_label("Reason").fill("capsule dropped")
    # One witness only: refused in words, nothing lost.
    await waste.get_by_label("First witness").select_option(s.nurse.id)
    await waste.get_by_label("Second witness").select_option(s.nurse.id)
    await waste.get_by_role("button", name="Record waste").click()
    await expect(page.get_by_role("alert")).to_contain_text("two different witnesses")
    waste = page.locator("form[action$='/inventory/wastes']")
    await expect(waste.get_by_label("Reason")).to_have_value("capsule dropped")
    await waste.get_by_label("Second witness").select_option(s.lead.id)
    await waste.get_by_role("button", name="Record waste").click()
    await expect(page.get_by_role("status").first).to_contain_text("Waste of 10 mg recorded")
    await expect(page.get_by_text("verified intact")).to_be_visible()
    await shot(page, "07-inventory")
    await assert_accessible_basics(page)
    async with page.expect_download() as waiting:
        await page.get_by_role("link", name="Dispensing log schedules I-II as CSV").click()
    download = await waiting.value
    path = await download.path()
    text = path.read_text() if path else ""
    assert download.suggested_filename == "dispensing-log.csv"
    assert "," in text.splitlines()[0], text[:200]
    await page.goto("/console/admin/audit?client_id=" + agency.client_id)
    await expect(page.locator("table").last).to_contain_text("clinical")
    await shot(page, "08-admin-audit")
    # The controlled-substance dashboard, by hand: 400 mg received today, 10 mg wasted
    # above, and the session's 120 mg dose if the nurse's dose was accepted.
    await page.goto("/console/dashboards")
    books = page.locator("section[id^='activity-']")
    await expect(books.get_by_role("heading")).to_contain_text("DEA BC7654329")
    row = books.locator("tbody tr").first
    await expect(row).to_contain_text("MDMA 20 mg capsule (C-I)")
    cells = [c.strip() for c in await row.locator("td").all_inner_texts()]
    product = "MDMA 20 mg capsule (C-I)"
    assert cells in (
        [product, "0", "400", "120 (1)", "10 / 0 / 0", "0", "0", "270"],
        [product, "0", "400", "0 (0)", "10 / 0 / 0", "0", "0", "390"],
    ), cells
    await shot(page, "08b-dashboards")
    await context.close()


async def test_session_therapist_finds_the_alert_in_the_inbox_with_an_unread_count(
    browser: Browser, gateway: Gateway, agency: Agency
) -> None:
    s = agency.course.staff
    # Alerts go to the therapists in the session first; on-call staff only when nobody
    # acknowledges within the protocol's minutes (issue 18, item 7).
    context, page = await signed_in(browser, gateway, s.lead)
    # The header polls the unread count (htmx); the alert arrives through Kafka.
    await expect(page.locator("#inbox-link")).to_contain_text(
        re.compile(r"Inbox \(\d+ unread\)"), timeout=60_000
    )
    await page.locator("#inbox-link").click()
    alert = page.locator("article.unread").filter(has_text="systolic 172")
    await expect(alert).to_be_visible()
    await shot(page, "09-inbox")
    await alert.get_by_role("button", name="Mark read").click()
    await expect(page.locator("article.unread").filter(has_text="systolic 172")).to_have_count(0)
    await context.close()


async def test_biller_sees_the_billing_screen(
    browser: Browser, gateway: Gateway, agency: Agency
) -> None:
    context, page = await signed_in(browser, gateway, agency.course.staff.biller)
    await page.goto(f"/console/billing?client_id={agency.client_id}")
    await expect(page.get_by_role("heading", name="Claims")).to_be_visible()
    await expect(page.get_by_text("Grace Hopper")).to_be_visible()
    await shot(page, "10-billing")
    await page.goto("/console/dashboards")
    await expect(page.get_by_role("heading", name="Billable units per clinician")).to_be_visible()
    await expect(page.get_by_role("heading", name="Accounts receivable aging")).to_be_visible()
    await page.goto("/console/admin")
    await expect(page.get_by_role("heading", name="Break the glass")).to_be_visible()
    await context.close()


async def test_another_agency_sees_none_of_it(
    browser: Browser, gateway: Gateway, agency: Agency
) -> None:
    other_admin = await gateway.bootstrap_agency("Elsewhere Wellness")
    site = ok(
        await gateway.post(
            "/api/identity/sites",
            other_admin,
            json={
                "name": "Elsewhere clinic",
                "timezone": "America/New_York",
                "address": {
                    "line1": "1 Main St",
                    "city": "Albany",
                    "region": "NY",
                    "postal_code": "12207",
                },
            },
        ),
        201,
    )["id"]
    desk = await gateway.add_staff(other_admin, "front_desk", site, "Eli Desk")
    from tests.e2e.journey import Course, Staff

    theirs = Course(site_id=site, staff=Staff(*([desk] * 8)))
    their_client = await register_client(gateway, theirs, "Grace")
    context, page = await signed_in(browser, gateway, desk)
    await page.goto("/console/clients?name=Hop")
    rows = page.locator("table tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows.get_by_role("link")).to_have_attribute(
        "href", f"/console/clients/{their_client}"
    )
    await page.goto(f"/console/clients/{agency.client_id}")
    await expect(page.get_by_role("alert")).to_be_visible()
    await expect(page.get_by_role("heading", level=1)).to_have_text("That did not work")
    assert "MRN" not in await page.locator("main").inner_text()  # no chart shown
    await page.goto(f"/console/appointments/{STATE['dosing_id']}")
    await expect(page.get_by_role("alert")).to_be_visible()
    await page.goto("/console/calendar?view=week")
    assert "Mithoefer" not in await page.content()
    await context.close()
