"""An MDMA-assisted therapy course, step by step, through the gateway with real tokens.

Each step asserts what a user would see. The journey returns what later checks (traces,
faults) need: the people, the client, and the trace id of each traced action.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from halcyon.shared.testing.plugin import eventually

from tests.e2e.platform import Gateway, Person

DENVER = ZoneInfo("America/Denver")
NEXT_YEAR = (datetime.now(UTC) + timedelta(days=365)).date()
ADDRESS = {"line1": "1 Pearl St", "city": "Boulder", "region": "CO", "postal_code": "80302"}
BILLING_ADDRESS = {
    "line1": "1 PEARL ST",
    "city": "BOULDER",
    "state": "CO",
    "postal_code": "803021234",
}
THERAPIST_NPI, SECOND_NPI, PRESCRIBER_NPI = "1003000126", "1234567893", "1245319599"
WITHIN = 60.0


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def local_day(days_ahead: int, at: time) -> datetime:
    day = datetime.now(DENVER).date() + timedelta(days=days_ahead)
    return datetime.combine(day, at, tzinfo=DENVER)


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url} -> "
        f"{response.status_code}: {response.text}"
    )
    return response.json() if response.content else None


@dataclass
class Staff:
    admin: Person
    front_desk: Person
    prescriber: Person
    lead: Person  # licensed therapist, first monitor, supervisor of `second`
    second: Person  # supervised therapist, second monitor
    nurse: Person
    compliance: Person
    biller: Person


@dataclass
class Course:
    site_id: str
    staff: Staff
    client_id: str = ""
    client_email: str = ""
    dosing_appointment_id: str = ""
    dosing_note_id: str = ""
    registration_id: str = ""
    lot_id: str = ""
    location_id: str = ""
    claim_id: str = ""
    dose_ids: list[str] = field(default_factory=list)
    traces: dict[str, str] = field(default_factory=dict)
    findings: list[str] = field(default_factory=list)


async def set_up_agency(
    gw: Gateway,
    name: str = "Halcyon Boulder",
    more_dea_registrations: list[dict[str, Any]] | None = None,
) -> Course:
    """Platform operator bootstraps the agency; its admin creates a site and the staff."""
    admin = await gw.bootstrap_agency(name)
    site = ok(
        await gw.post(
            "/api/identity/sites",
            admin,
            json={
                "name": "Boulder clinic",
                "timezone": "America/Denver",
                "address": ADDRESS,
                # A researcher registration for Schedule I, tied to the protocol (1301.18).
                "dea_registrations": [
                    {
                        "number": "BC7654329",
                        "schedules": ["I", "II"],
                        "expires_on": "2030-01-01",
                        "protocol_id": "mdma-ptsd",
                    },
                    *(more_dea_registrations or []),
                ],
            },
        ),
        201,
    )
    site_id = site["id"]
    licence = [{"type": "LCSW", "number": "L-1", "state": "CO", "expires_on": "2030-01-01"}]
    prescriber = await gw.add_staff(
        admin,
        "prescriber",
        site_id,
        "Rick Doblin",
        npi=PRESCRIBER_NPI,
        licences=[{"type": "MD", "number": "MD-1", "state": "CO", "expires_on": "2030-01-01"}],
        dea_registrations=[
            {
                "number": "BP1234563",
                # III: esketamine (SPRAVATO) is ordered by the same prescriber.
                "schedules": ["I", "II", "III"],
                "expires_on": NEXT_YEAR.isoformat(),
            }
        ],
        on_call_sites=[site_id],
    )
    lead = await gw.add_staff(
        admin, "therapist", site_id, "Michael Mithoefer", npi=THERAPIST_NPI, licences=licence
    )
    second = await gw.add_staff(
        admin, "therapist", site_id, "Annie Mithoefer", npi=SECOND_NPI, supervisor_id=lead.id
    )
    nurse = await gw.add_staff(admin, "nurse", site_id, "Noor Nurse")
    compliance = await gw.add_staff(admin, "compliance_officer", site_id, "Cora Compliance")
    biller = await gw.add_staff(admin, "biller", site_id, "Bill Biller")
    front_desk = await gw.add_staff(admin, "front_desk", site_id, "Fran Desk")
    staff = Staff(admin, front_desk, prescriber, lead, second, nurse, compliance, biller)
    return Course(site_id=site_id, staff=staff)


@dataclass(frozen=True)
class ResearchStock:
    """A researcher registration for the MDMA protocol, its product and a safe."""

    registration_id: str
    product_id: str
    location_id: str


async def research_stock(
    gw: Gateway, s: Staff, site_id: str, registrant_name: str
) -> ResearchStock:
    """Register for MDMA research at the site, add the product and a safe, and record
    the opening inventory (required before any receipt, 21 CFR 1304.11)."""
    now = datetime.now(UTC)
    registration = ok(
        await gw.post(
            "/api/inventory/registrations",
            s.compliance,
            json={
                "site_id": site_id,
                "dea_number": "BC7654329",
                "registrant_name": registrant_name,
                "kind": "researcher",
                "schedules": ["I", "II"],
                "protocol_id": "mdma-ptsd",
                "expires_on": (now + timedelta(days=365)).date().isoformat(),
            },
        ),
        201,
    )["id"]
    product = ok(
        await gw.post(
            "/api/inventory/products",
            s.admin,
            json={
                "substance": "MDMA",
                "schedule": "I",
                "form": "capsule",
                "strength_mg": 20,
                "units_per_container": 30,
                "low_stock_threshold_mg": 40,
            },
        ),
        201,
    )["id"]
    location = ok(
        await gw.post(
            "/api/inventory/locations",
            s.compliance,
            json={"registration_id": registration, "name": "Safe", "kind": "safe"},
        ),
        201,
    )["id"]
    ok(
        await gw.post(
            f"/api/inventory/registrations/{registration}/inventories",
            s.compliance,
            json={"kind": "initial", "taken_at": "opening", "items": []},
        ),
        201,
    )
    return ResearchStock(registration, product, location)


async def new_lot(gw: Gateway, s: Staff, stock: ResearchStock, lot_number: str) -> str:
    now = datetime.now(UTC)
    lot = ok(
        await gw.post(
            "/api/inventory/lots",
            s.compliance,
            json={
                "product_id": stock.product_id,
                "lot_number": lot_number,
                "expires_on": (now + timedelta(days=365)).date().isoformat(),
                "supplier_name": "Research Supply Co",
                "supplier_dea_number": "RS7654321",
            },
        ),
        201,
    )["id"]
    return str(lot)


async def receive(
    gw: Gateway, s: Staff, stock: ResearchStock, lot_id: str, quantity_mg: float, form_222: str
) -> Any:
    """A receipt into the safe on a DEA Form 222."""
    return ok(
        await gw.post(
            "/api/inventory/receipts",
            s.compliance,
            json={
                "lot_id": lot_id,
                "location_id": stock.location_id,
                "quantity_mg": quantity_mg,
                "received_on": datetime.now(UTC).date().isoformat(),
                "order_form_number": form_222,
            },
        ),
        201,
    )


def client_email(course: Course, given: str) -> str:
    return f"client-{given.lower()}-{course.site_id[-6:]}@example.test"


async def register_client(gw: Gateway, course: Course, given: str = "Grace") -> str:
    email = client_email(course, given)
    created = ok(
        await gw.post(
            "/api/clinical/clients",
            course.staff.front_desk,
            traced_as=f"register:{given}",
            json={
                "given_name": given,
                "family_name": "Hopper",
                "date_of_birth": "1985-12-09",
                "home_site_id": course.site_id,
                "email": email,
                "preferred_language": "en",
                "address": {
                    "line1": "2 Walnut St",
                    "city": "Boulder",
                    "state": "CO",
                    "postal_code": "80302",
                },
            },
        ),
        201,
    )
    return str(created["id"])


async def until_ok(
    gw: Gateway, path: str, who: Person, check: Any = None, **params: Any
) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        response = await gw.get(path, who, params=params)
        if response.status_code != 200:
            return None
        body: dict[str, Any] = response.json()
        return body if check is None or check(body) else None

    return await eventually(probe, within=WITHIN, interval=0.3, message=f"GET {path}")


def booking_codes(response: httpx.Response) -> set[str]:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["type"].endswith("/booking-refused"), body
    return {c["code"] for c in body["failed_conditions"]}


async def book(
    gw: Gateway,
    course: Course,
    who: Person,
    kind: str,
    starts_at: datetime,
    clinicians: list[Person],
    room_id: str | None,
    traced_as: str | None = None,
) -> httpx.Response:
    return await gw.post(
        "/api/scheduling/appointments",
        who,
        traced_as=traced_as,
        json={
            "client_id": course.client_id,
            "site_id": course.site_id,
            "appointment_type": kind,
            "starts_at": starts_at.isoformat(),
            "clinicians": [{"staff_id": c.id, "role": "therapist"} for c in clinicians],
            "room_id": room_id,
        },
    )


def x12valid(text: str, directory: Path) -> tuple[bool, str]:
    path = directory / "journey.837"
    path.write_text(text, encoding="ascii")
    tool = Path(sys.executable).parent / "x12valid"
    result = subprocess.run(
        [str(tool), str(path)], capture_output=True, text=True, timeout=120, check=False
    )
    output = result.stdout + result.stderr
    return f"{path}: OK" in output and " ERROR " not in output, output


def era_835(claim: dict[str, Any], paid: int, patient: int, trace: str) -> bytes:
    """An 835 for one of our claims: contractual CO-45 and deductible PR-1 on the first line."""

    def d(cents: int) -> str:
        return f"{cents / 100:.2f}"

    total = claim["total_cents"]
    segs = [
        "ISA*00*          *00*          *ZZ*PAYER          *ZZ*HALCYON        "
        "*261130*1200*^*00501*000000201*0*P*:",
        "GS*HP*PAYER*HALCYON*20261130*1200*201*X*005010X221A1",
        "ST*835*0001",
        f"BPR*I*{d(paid)}*C*ACH*CCP*01*999999999*DA*123456*1512345678"
        "**01*999988880*DA*98765*20261130",
        f"TRN*1*{trace}*1512345678",
        "DTM*405*20261130",
        "N1*PR*ACME HEALTH",
        "N3*1 PAYER WAY",
        "N4*DENVER*CO*80202",
        "PER*BL*EDI*TE*8005551212",
        "N1*PE*HALCYON BOULDER*XX*1234567893",
        "LX*1",
        f"CLP*{claim['claim_number']}*1*{d(total)}*{d(paid)}*{d(patient)}*12*ICN{trace}",
        "NM1*QC*1*HOPPER*GRACE****MI*M123",
    ]
    for i, line in enumerate(claim["lines"]):
        line_paid = paid if i == 0 else 0
        line_pr = patient if i == 0 else 0
        line_co = line["amount_cents"] - line_paid - line_pr
        segs += [f"SVC*HC:{line['cpt']}*{d(line['amount_cents'])}*{d(line_paid)}"]
        if line_co:
            segs.append(f"CAS*CO*45*{d(line_co)}")
        if line_pr:
            segs.append(f"CAS*PR*1*{d(line_pr)}")
    segs += [f"SE*{len(segs) - 1}*0001", "GE*1*201", "IEA*1*000000201"]
    return ("~".join(segs) + "~").encode()


async def mails(gw: Gateway, to: str) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=gw.platform.sink.url) as http:
        return list((await http.get("/messages", params={"to": to})).json())


async def charges_of(gw: Gateway, course: Course, want: int) -> list[dict[str, Any]] | None:
    response = await gw.get(
        f"/api/billing/clients/{course.client_id}/charges",
        course.staff.biller,
        params={"limit": 100},
    )
    if response.status_code != 200:
        return None
    items: list[dict[str, Any]] = response.json()["items"]
    return items if len(items) >= want else None


def today_date() -> date:
    return datetime.now(UTC).date()
