"""Sign-in by email in Chromium: nobody types an agency id; a person in two agencies picks one.

Only identity, the gateway and the console run (sign-in needs nothing else; the
calendar shows its panels' errors in words when scheduling is not there).
"""

from __future__ import annotations

import re
import uuid
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
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.e2e.platform import Gateway, Person, Platform, fresh_otp, run_dir

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


@pytest.fixture(scope="module")
def platform(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    running = Platform(servers, run_dir(tmp_path_factory, "console-sign-in"))
    try:
        running.start(services=("identity",))
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


async def therapist_in(gw: Gateway, admin: Person, email: str, name: str) -> Person:
    site = await gw.post(
        "/api/identity/sites",
        admin,
        json={
            "name": name,
            "timezone": "America/Denver",
            "address": {"line1": "1 Pearl St", "city": "Boulder", "region": "CO",
                        "postal_code": "80302"},
        },
    )  # fmt: skip
    assert site.status_code == 201, site.text
    made = await gw.post(
        "/api/identity/staff",
        admin,
        json={
            "display_name": "Tess Therapist",
            "email": email,
            "roles": [{"site": site.json()["id"], "role": "front_desk"}],
            "initial_password": PASSWORD,
        },
    )
    assert made.status_code == 201, made.text
    # Front desk reads client records: an authenticator before the first sign-in (ADR 0103).
    person = Person(made.json()["id"], email, "front_desk", admin.agency_id)
    await gw.enrol(person)
    return person


async def fill_sign_in(page: Page, email: str, person: Person | None = None) -> None:
    await page.goto("/console/sign-in")
    assert await page.get_by_label(re.compile("Agency")).count() == 0  # no agency id field
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill(PASSWORD)
    if person is not None:
        code = await fresh_otp(person)
        await page.get_by_label(re.compile("Authenticator code")).fill(code)
    await page.get_by_role("button", name="Sign in").click()


async def test_sign_in_with_one_agency_and_with_two(browser: Browser, gateway: Gateway) -> None:
    suffix = uuid.uuid4().hex[:6]
    boulder = await gateway.bootstrap_agency(f"Boulder Clinic {suffix}")
    austin = await gateway.bootstrap_agency(f"Austin Center {suffix}")
    only_boulder = f"one-{suffix}@example.org"
    both = f"both-{suffix}@example.org"
    boulder_only = await therapist_in(gateway, boulder, only_boulder, "Boulder site")
    await therapist_in(gateway, boulder, both, "Boulder annex")
    both_at_austin = await therapist_in(gateway, austin, both, "Austin site")

    context = await browser.new_context(base_url=gateway.platform.gateway.url)
    page = await context.new_page()
    # One agency: email, password and code, straight in.
    await fill_sign_in(page, only_boulder, boulder_only)
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Calendar")
    await expect(page.get_by_label("Site")).to_contain_text("Boulder site")
    await page.get_by_role("button", name="Sign out").click()

    # Unknown email: refused in the same words as a wrong password.
    await fill_sign_in(page, f"nobody-{suffix}@example.org")
    await expect(page.get_by_role("alert")).to_contain_text("Wrong email or password")

    # Two agencies: a chooser by name; the email is kept, the password asked again.
    await fill_sign_in(page, both)
    await expect(page.get_by_role("status")).to_contain_text("several agencies")
    await expect(page.get_by_label(f"Austin Center {suffix}")).to_be_visible()
    await expect(page.get_by_label(f"Boulder Clinic {suffix}")).to_be_visible()
    await expect(page.get_by_label("Email")).to_have_value(both)
    await shot(page, "00-sign-in-choose-agency")
    await page.get_by_label(f"Austin Center {suffix}").check()
    await page.get_by_label("Password").fill(PASSWORD)
    code = await fresh_otp(both_at_austin)
    await page.get_by_label(re.compile("Authenticator code")).fill(code)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Calendar")
    await expect(page.get_by_label("Site")).to_contain_text("Austin site")
    await context.close()
