"""Sign-in, MFA enrolment, refresh, sign-out, password reset, service client credentials."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Response, status
from halcyon.identity.api.common import PlatformOperator
from halcyon.identity.api.deps import Agencies, Resets, Runtime, SessionsDep, SignIns, Staff
from halcyon.identity.domain.sign_in import Credentials
from halcyon.identity.usecases import find_agencies, service_clients
from halcyon.identity.usecases.sessions import IssuedTokens
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

router = APIRouter(tags=["sign-in"])

AgencyId = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
EmailIn = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, max_length=254)]
OneTimeCode = Annotated[str, StringConstraints(strip_whitespace=True, max_length=10)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SignIn(Strict):
    agency_id: AgencyId
    email: EmailIn
    password: str = Field(max_length=256)
    otp_code: OneTimeCode | None = None

    def credentials(self) -> Credentials:
        return Credentials(self.agency_id, self.email, self.password, self.otp_code)


class MfaConfirm(SignIn):
    otp_code: OneTimeCode


class RefreshIn(Strict):
    refresh_token: str = Field(min_length=1, max_length=512)


class ResetRequest(Strict):
    agency_id: AgencyId
    email: EmailIn


class ResetConfirm(Strict):
    reset_token: str = Field(min_length=1, max_length=512)
    new_password: str = Field(max_length=256)


class EmailLookup(Strict):
    email: EmailIn


class AgencyOption(BaseModel):
    agency_id: str
    name: str


class AgencyOptions(BaseModel):
    agencies: list[AgencyOption]


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "Bearer"  # noqa: S105 (the OAuth token type, not a secret)
    expires_in: int
    refresh_token: str | None = None

    @classmethod
    def of(cls, issued: IssuedTokens) -> TokenOut:
        return cls(
            access_token=issued.access_token,
            expires_in=issued.expires_in,
            refresh_token=issued.refresh_token,
        )


class MfaEnrolment(BaseModel):
    secret: str
    otpauth_uri: str


class ServiceClientIn(Strict):
    name: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{1,40}$")]


class ServiceClientOut(BaseModel):
    client_id: str
    client_secret: str


class ClientCredentials(Strict):
    grant_type: str = Field(pattern="^client_credentials$")
    client_id: str = Field(max_length=64)
    client_secret: str = Field(max_length=256)
    tenant_id: AgencyId  # the agency on whose behalf the service acts


@router.post(
    "/auth/agencies",
    response_model=AgencyOptions,
    summary="The agencies an email can sign in to (the same shape when there are none)",
)
async def agencies_for_email(body: EmailLookup, staff: Staff, agencies: Agencies) -> AgencyOptions:
    found = await find_agencies.agencies_for_email(body.email, staff, agencies)
    return AgencyOptions(agencies=[AgencyOption(agency_id=a.agency_id, name=a.name) for a in found])


@router.post("/auth/sign-in", response_model=TokenOut, summary="Sign in with password (+ TOTP)")
async def sign_in(body: SignIn, authentication: SignIns) -> TokenOut:
    return TokenOut.of(await authentication.sign_in(body.credentials()))


@router.post(
    "/auth/mfa/enrol", response_model=MfaEnrolment, summary="Start TOTP enrolment (password)"
)
async def enrol_mfa(body: SignIn, authentication: SignIns) -> MfaEnrolment:
    started = await authentication.enrol_authenticator(body.credentials())
    return MfaEnrolment(secret=started.secret, otpauth_uri=started.otpauth_uri)


@router.post(
    "/auth/mfa/confirm",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Finish TOTP enrolment with a first code",
)
async def confirm_mfa(body: MfaConfirm, authentication: SignIns) -> Response:
    await authentication.confirm_authenticator(body.credentials())
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/auth/refresh", response_model=TokenOut, summary="Trade a refresh token (rotates)")
async def refresh(body: RefreshIn, sessions: SessionsDep) -> TokenOut:
    return TokenOut.of(await sessions.refresh(body.refresh_token))


@router.post(
    "/auth/sign-out", status_code=status.HTTP_204_NO_CONTENT, summary="Revoke this session"
)
async def sign_out(body: RefreshIn, sessions: SessionsDep) -> Response:
    await sessions.sign_out(body.refresh_token)
    # Same answer either way: signing out twice is fine.
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/auth/password-reset",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Ask for a password reset (single-use, expiring)",
)
async def request_password_reset(body: ResetRequest, resets: Resets) -> dict[str, Any]:
    await resets.request_reset(body.agency_id, body.email)
    return {"status": "if the account exists, reset instructions were sent"}


@router.post(
    "/auth/password-reset/confirm",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Set a new password with a reset token",
)
async def confirm_password_reset(body: ResetConfirm, resets: Resets) -> Response:
    await resets.reset(body.reset_token, body.new_password)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- service-to-service ------------------------------------------------------------------
@router.post(
    "/service-clients",
    status_code=status.HTTP_201_CREATED,
    response_model=ServiceClientOut,
    tags=["platform"],
    summary="Register a service client (platform operator); the secret is shown once",
    dependencies=[PlatformOperator],
)
async def register_service_client(body: ServiceClientIn, runtime: Runtime) -> ServiceClientOut:
    secret = await service_clients.register_service_client(runtime, body.name)
    return ServiceClientOut(client_id=body.name, client_secret=secret)


@router.post(
    "/oauth/token",
    response_model=TokenOut,
    tags=["platform"],
    summary="Client-credentials grant: a short-lived token for a service",
)
async def service_token(body: ClientCredentials, runtime: Runtime) -> TokenOut:
    issued = await service_clients.service_token(
        runtime, body.client_id, body.client_secret, body.tenant_id
    )
    return TokenOut.of(issued)
