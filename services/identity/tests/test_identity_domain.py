"""Identity's pure rules: no servers."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pyotp
import pytest
from halcyon.identity.domain.credentials import expiring_credentials
from halcyon.identity.domain.personnel import NewStaffMember, SiteIn
from halcyon.identity.domain.roles import (
    STAFF_ROLES,
    access_changed,
    mfa_required,
    refresh_needs_second_factor,
)
from halcyon.identity.domain.sign_in import (
    LockoutPolicy,
    WeakPassword,
    accepted_totp_step,
    access_claims,
    check_password_policy,
    hash_password,
    new_opaque_token,
    password_matches,
    token_tenant,
)
from halcyon.identity.domain.validation import dea_number_valid, npi_valid
from halcyon.identity.settings import IdentitySettings
from pydantic import ValidationError

NOW = datetime(2026, 11, 27, 15, 0, tzinfo=UTC)


def test_npi_check_digit_follows_the_cms_luhn_rule() -> None:
    assert npi_valid("1234567893")
    assert not npi_valid("1234567890")  # wrong check digit
    assert not npi_valid("123456789")  # too short
    assert not npi_valid("3234567893")  # NPIs start with 1 or 2


def test_dea_number_check_digit() -> None:
    assert dea_number_valid("AB1234563")
    assert not dea_number_valid("AB1234564")
    assert not dea_number_valid("AB123456")
    assert not dea_number_valid("IB1234563")  # I is not a registrant type


def test_site_time_zone_must_be_iana() -> None:
    site = {
        "name": "Clinic",
        "address": {"line1": "1 Main", "city": "Denver", "region": "CO", "postal_code": "80202"},
    }
    assert SiteIn(**site, timezone="America/Denver").timezone == "America/Denver"
    for bad in ["Mountain Time", "America/Nowhere", "UTC+7", ""]:
        with pytest.raises(ValidationError):
            SiteIn(**site, timezone=bad)


def test_personnel_file_refuses_unknown_roles_bad_npi_and_extra_fields() -> None:
    base = {
        "display_name": "Pat",
        "email": "PAT@Example.org",
        "roles": [{"site": "*", "role": "therapist"}],
        "initial_password": "x" * 12,
    }
    assert NewStaffMember(**base).email == "pat@example.org"
    with pytest.raises(ValidationError):
        NewStaffMember(**{**base, "roles": [{"site": "*", "role": "superuser"}]})
    with pytest.raises(ValidationError):
        NewStaffMember(**{**base, "npi": "1234567890"})
    with pytest.raises(ValidationError):
        NewStaffMember(**{**base, "roles": []})
    with pytest.raises(ValidationError):
        NewStaffMember(**{**base, "is_superuser": True})


def test_mfa_is_required_for_every_role_that_reads_client_records() -> None:
    # Every staff role reads client records (front desk demographics, billers claims with
    # diagnoses, admins the chart): none signs in with a password alone (HIPAA
    # 164.312(d)). A role added to STAFF_ROLES fails here until someone decides.
    for role in sorted(STAFF_ROLES):
        assert mfa_required([role]), role
    assert not mfa_required([])


def test_a_promotion_ends_sessions_and_a_refresh_without_second_factor_is_refused() -> None:
    therapist = [{"site": "s1", "role": "therapist"}]
    prescriber = [{"site": "s1", "role": "prescriber"}]
    front_desk = [{"site": "s1", "role": "front_desk"}]
    assert access_changed(front_desk, prescriber, True, True) == "role_changed"
    assert access_changed(therapist, therapist, True, False) == "deactivated"
    assert access_changed(therapist, list(therapist), True, True) is None
    assert refresh_needs_second_factor(prescriber, second_factor=False)
    assert not refresh_needs_second_factor(prescriber, second_factor=True)
    assert refresh_needs_second_factor(front_desk, second_factor=False)
    assert mfa_required(["therapist", "prescriber"])


def test_passwords_are_argon2id_and_policy_refuses_short_ones() -> None:
    hashed = hash_password("correct horse battery staple")
    assert hashed.startswith("$argon2id$")
    assert password_matches(hashed, "correct horse battery staple")
    assert not password_matches(hashed, "Correct horse battery staple")
    assert not password_matches(None, "anything")
    with pytest.raises(WeakPassword):
        check_password_policy("short")
    with pytest.raises(WeakPassword):
        check_password_policy("someone@example.org", "someone@example.org")
    with pytest.raises(WeakPassword):
        check_password_policy("aaaaaaaaaaaaaaaa")


def test_lockout_after_the_configured_number_of_failures() -> None:
    policy = LockoutPolicy(max_failures=5, lock_for=timedelta(minutes=15))
    assert not policy.should_lock(4)
    assert policy.should_lock(5)
    assert policy.is_locked(NOW + timedelta(minutes=1), NOW)
    assert not policy.is_locked(NOW - timedelta(seconds=1), NOW)
    assert not policy.is_locked(None, NOW)


def test_totp_codes_are_checked_and_cannot_be_replayed() -> None:
    secret = pyotp.random_base32()
    code = pyotp.TOTP(secret).at(NOW)
    step = accepted_totp_step(secret, code, NOW)
    assert step is not None
    assert accepted_totp_step(secret, code, NOW, last_step=step) is None  # replay
    assert accepted_totp_step(secret, "000000" if code != "000000" else "111111", NOW) is None
    assert accepted_totp_step(secret, code, NOW + timedelta(minutes=5)) is None  # too old
    assert accepted_totp_step(secret, "12ab56", NOW) is None


def test_opaque_tokens_name_their_tenant_and_nothing_else() -> None:
    token = new_opaque_token("agency-1")
    assert token_tenant(token) == "agency-1"
    assert token_tenant("agency-1.short") is None
    assert token_tenant("no-dot-at-all") is None


def test_access_claims_carry_what_every_service_verifies() -> None:
    claims = access_claims(
        subject="u1",
        tenant_id="a1",
        roles=[{"site": "s1", "role": "therapist"}],
        name="Pat",
        mfa=False,
        audience="halcyon",
        issuer="halcyon-identity",
        now=NOW,
        ttl=timedelta(minutes=15),
        break_the_glass=["client-9"],
        break_the_glass_reason="patient in crisis at front desk",
    )
    assert claims["typ"] == "access"
    assert claims["exp"] - claims["iat"] == 900
    assert claims["btg"] == ["client-9"]
    assert claims["btg_reason"]
    assert {"sub", "tid", "roles", "mfa", "aud", "iss", "iat", "exp", "jti", "name"} <= set(claims)


def test_credentials_expiring_within_thirty_days() -> None:
    today = date(2026, 11, 27)
    personnel = {
        "licences": [
            {"type": "LCSW", "number": "L1", "state": "CO", "expires_on": "2026-12-20"},
            {"type": "MD", "number": "L2", "state": "CO", "expires_on": "2027-06-01"},
        ],
        "dea_registrations": [{"number": "AB1234563", "expires_on": "2026-12-27"}],
        "authorised_prescriber_approvals": [
            {"drug": "MDMA", "ethics_approval": "HREC-1", "expires_on": "2026-11-01"}
        ],
    }
    found = {c.credential_type: c for c in expiring_credentials(personnel, today)}
    assert set(found) == {"licence", "dea_registration"}  # the approval already expired
    assert found["licence"].days_left == 23
    assert found["dea_registration"].days_left == 30
    assert found["licence"].key == "licence:LCSW CO L1:2026-12-20"


def test_production_refuses_the_development_operator_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HALCYON_ENVIRONMENT", "production")
    monkeypatch.setenv("HALCYON_FIELD_ENCRYPTION_KEY", "a-real-secret-of-sufficient-length")
    with pytest.raises(ValidationError, match="PLATFORM_OPERATOR_SECRET"):
        IdentitySettings()
    monkeypatch.setenv("HALCYON_IDENTITY_PLATFORM_OPERATOR_SECRET", "p" * 40)
    assert IdentitySettings().environment == "production"
