"""Who is calling: verified access tokens turned into a :class:`Caller`.

Every service verifies the token itself (the gateway is not the only wall).
Only asymmetric algorithms are accepted, named explicitly, so ``alg: none`` and
an RSA/EdDSA public key abused as an HMAC secret are refused by construction.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
from halcyon.shared.errors import Forbidden, Unauthenticated, Unavailable
from halcyon.shared.grants import ALL_SITES as ALL_SITES
from halcyon.shared.grants import roles_at
from halcyon.shared.second_factor import SECOND_FACTOR_METHODS as SECOND_FACTOR_METHODS
from halcyon.shared.second_factor import SECOND_FACTOR_ROLES as SECOND_FACTOR_ROLES
from halcyon.shared.second_factor import second_factor_required as second_factor_required
from jwt import PyJWK

ACCEPTED_ALGORITHMS = ["RS256", "EdDSA"]
# Tokens already verified by this process, kept until they expire (bounded): a client
# sends the same token on every request, and the signature check and claim parsing are
# a large share of a small request's CPU.
VERIFIED_TOKENS_MAX = 4096


class SecondFactorRequired(Unauthenticated):
    """The token has no second factor, and this person or this action needs one."""

    slug, title = "second-factor-required", "Sign in again with your one-time code"


@dataclass(frozen=True)
class RoleGrant:
    site_id: str
    role: str


@dataclass(frozen=True)
class Caller:
    user_id: str
    tenant_id: str
    grants: tuple[RoleGrant, ...] = ()
    mfa: bool = False
    token_id: str | None = None
    # Break-the-glass grants (client ids) carried by the token, each time-limited by it.
    emergency_clients: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)
    # How the person authenticated (RFC 8176 ``amr``: "pwd", "otp"), when, and in which
    # sign-in session (identity's refresh family): revocation names sessions.
    amr: tuple[str, ...] = ()
    auth_time: int | None = None
    session_id: str | None = None
    expires_at: int | None = None

    @property
    def is_service(self) -> bool:
        return self.user_id.startswith("service:")

    @property
    def has_second_factor(self) -> bool:
        return bool(SECOND_FACTOR_METHODS & set(self.amr))

    def require_second_factor(self, what: str = "this action") -> None:
        """Refuse a person's token that was not issued after a second factor."""
        if self.is_service or self.has_second_factor:
            return
        raise SecondFactorRequired(
            f"{what} needs a second factor: sign in again with your one-time code",
            second_factor_required=True,
        )

    def roles_at(self, site_id: str | None) -> set[str]:
        return roles_at(((g.site_id, g.role) for g in self.grants), site_id)

    def has_role(self, roles: Iterable[str], site_id: str | None = None) -> bool:
        return bool(self.roles_at(site_id) & set(roles))

    def sites(self) -> set[str]:
        return {g.site_id for g in self.grants}

    def require(self, roles: Iterable[str], site_id: str | None = None) -> None:
        wanted = set(roles)
        if not self.has_role(wanted, site_id):
            where = f" at site {site_id}" if site_id else ""
            raise Forbidden(
                f"this action needs one of the roles {sorted(wanted)}{where}",
                required_roles=sorted(wanted),
            )


class Authenticator:
    """Verifies access tokens against the identity service's JWKS (or a fixed PEM key)."""

    def __init__(
        self,
        *,
        audience: str,
        issuer: str,
        jwks_url: str | None = None,
        public_key_pem: str | None = None,
        jwks_ttl_seconds: float = 300.0,
        unknown_kid_cooldown_seconds: float = 10.0,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        if not jwks_url and not public_key_pem:
            raise ValueError("token verification needs a JWKS URL or a public key")
        self._audience = audience
        self._issuer = issuer
        self._jwks_url = jwks_url
        self._pem = public_key_pem
        self._ttl = jwks_ttl_seconds
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at = 0.0
        self._forced_at = -1e9
        self._cooldown = unknown_kid_cooldown_seconds
        self._lock = asyncio.Lock()
        self._http: httpx.AsyncClient | None = http
        # token -> (caller, valid from, expires, the key that verified it)
        self._verified: dict[str, tuple[Caller, float, float, Any]] = {}

    async def _refresh(self, force: bool = False) -> None:
        """Fetch the key set when stale (or forced); keep the old keys if identity is away."""
        if not self._jwks_url:
            return
        if not force and time.monotonic() - self._fetched_at < self._ttl and self._keys:
            return
        async with self._lock:
            if not force and time.monotonic() - self._fetched_at < self._ttl and self._keys:
                return
            if force:
                self._forced_at = time.monotonic()
            if self._http is None:
                self._http = httpx.AsyncClient(timeout=5.0)
            try:
                response = await self._http.get(self._jwks_url)
                response.raise_for_status()
            except httpx.HTTPError as exc:
                if self._keys:
                    return  # identity restarting: the keys we have stay valid meanwhile
                # Nobody can be verified: that is our outage, not the caller's bad token.
                raise Unavailable(f"cannot fetch the signing keys: {exc}") from None
            keys = {}
            for raw in response.json().get("keys", []):
                if raw.get("kty") not in {"RSA", "OKP"}:
                    continue  # never accept symmetric keys from a key set
                keys[raw["kid"]] = PyJWK(raw)
            self._keys = keys
            self._fetched_at = time.monotonic()

    async def _key_for(self, token: str) -> Any:
        if self._pem:
            return self._pem
        header = jwt.get_unverified_header(token)
        kid = header.get("kid")
        await self._refresh()
        if kid not in self._keys and time.monotonic() - self._forced_at > self._cooldown:
            # A rotation may have published a new key; junk kids get one refetch per cooldown.
            await self._refresh(force=True)
        if kid not in self._keys:
            raise Unauthenticated("token signed by an unknown key")
        return self._keys[kid].key

    async def _still_verified(self, token: str) -> Caller | None:
        """The caller of a token this process verified before, if it would verify the same
        way now: within its time window (``iat``/``nbf`` to ``exp``, as PyJWT checks them)
        and, with a key set, its key still the one published (checked after the usual
        refresh, so a withdrawn key stops working exactly when it would uncached)."""
        seen = self._verified.get(token)
        if seen is None:
            return None
        caller, valid_from, expires, key = seen
        now = time.time()
        if not valid_from <= now < expires:
            del self._verified[token]
            return None
        if not self._pem:
            try:
                await self._refresh()
            except Exception:
                return None  # the full check below meets (and reports) the same failure
            if key is None or self._keys.get(key[0]) is not key[1]:
                self._verified.pop(token, None)
                return None
        return caller

    def _remember(self, token: str, caller: Caller, claims: dict[str, Any], kid: Any) -> None:
        if self._pem:
            key = None  # one fixed key
        elif self._jwks_url and kid in self._keys:
            key = (kid, self._keys[kid])  # this very key object, replaced on every refetch
        else:
            return  # keys from elsewhere (a subclass's own store): never cached
        try:
            expires = float(int(claims["exp"]))
            valid_from = float(max(int(claims["iat"]), int(claims.get("nbf", claims["iat"]))))
        except (KeyError, TypeError, ValueError, OverflowError):
            return
        if len(self._verified) >= VERIFIED_TOKENS_MAX:
            now = time.time()
            for stale in [t for t, seen in self._verified.items() if seen[2] <= now]:
                del self._verified[stale]
            while len(self._verified) >= VERIFIED_TOKENS_MAX:
                del self._verified[next(iter(self._verified))]  # the oldest
        self._verified[token] = (caller, valid_from, expires, key)

    async def verify(self, token: str) -> Caller:
        known = await self._still_verified(token)
        if known is not None:
            return known
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") not in ACCEPTED_ALGORITHMS:
                raise Unauthenticated(f"token algorithm {header.get('alg')!r} is not accepted")
            key = await self._key_for(token)
            claims = jwt.decode(
                token,
                key=key,
                algorithms=ACCEPTED_ALGORITHMS,
                audience=self._audience,
                issuer=self._issuer,
                options={"require": ["exp", "iat", "sub", "aud", "iss"]},
            )
        except (Unauthenticated, Unavailable):
            raise
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("token expired") from None
        except (jwt.PyJWTError, httpx.HTTPError, ValueError, KeyError) as exc:
            raise Unauthenticated(f"token refused: {exc}") from None
        if claims.get("typ", "access") != "access":
            raise Unauthenticated("not an access token")
        if not claims.get("tid"):
            raise Unauthenticated("token names no tenant")
        caller = Caller(
            user_id=str(claims["sub"]),
            tenant_id=str(claims["tid"]),
            grants=tuple(
                RoleGrant(site_id=g["site"], role=g["role"]) for g in claims.get("roles", [])
            ),
            mfa=bool(claims.get("mfa", False)),
            token_id=claims.get("jti"),
            emergency_clients=tuple(claims.get("btg", [])),
            extra={"name": claims.get("name"), "btg_reason": claims.get("btg_reason")},
            amr=tuple(str(m) for m in claims.get("amr", [])),
            auth_time=_int_or_none(claims.get("auth_time")),
            session_id=str(claims["sid"]) if claims.get("sid") else None,
            expires_at=_int_or_none(claims.get("exp")),
        )
        self._remember(token, caller, claims, header.get("kid"))
        return caller


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) else None


def bearer_token(authorization: str | None) -> str:
    if not authorization:
        raise Unauthenticated("missing Authorization header")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("Authorization must be 'Bearer <token>'")
    return token.strip()
