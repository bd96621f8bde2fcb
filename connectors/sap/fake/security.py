"""Logon (Basic, OAuth2 client credentials) and CSRF sessions as an SAP ABAP server does them.

CSRF: `X-CSRF-Token: Fetch` on a GET/HEAD returns a token bound to a new (or the presented)
session, with the `SAP_SESSIONID_<SID>_<client>` and `sap-usercontext` cookies. A change
request is accepted only when its token matches the token of the session its cookie names.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import time
from dataclasses import dataclass, field


@dataclass
class Principal:
    user: str
    via: str  # "basic" or "bearer"


@dataclass
class AuthState:
    username: str
    password: str
    client_id: str
    client_secret: str
    system_id: str = "S4H"
    client: str = "100"
    token_ttl: float = 3600.0
    tokens: dict[str, float] = field(default_factory=dict)  # token → expiry (monotonic)
    sessions: dict[str, str] = field(default_factory=dict)  # session id → CSRF token

    @property
    def session_cookie(self) -> str:
        return f"SAP_SESSIONID_{self.system_id}_{self.client}"

    def authenticate(self, authorization: str | None) -> Principal | None:
        """The caller, or None when credentials are missing, wrong or expired."""
        if not authorization:
            return None
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() == "basic":
            user, password = _basic(value)
            if user is not None and _same(user, self.username) and _same(password, self.password):
                return Principal(user, "basic")
            return None
        if scheme.lower() == "bearer":
            expiry = self.tokens.get(value.strip())
            if expiry is not None and expiry > time.monotonic():
                return Principal(self.client_id, "bearer")
        return None

    def issue_token(self, client_id: str | None, client_secret: str | None) -> str | None:
        if client_id is None or not (
            _same(client_id, self.client_id) and _same(client_secret or "", self.client_secret)
        ):
            return None
        token = secrets.token_urlsafe(32)
        self.tokens[token] = time.monotonic() + self.token_ttl
        return token

    def expire_tokens(self) -> None:
        self.tokens = dict.fromkeys(self.tokens, 0.0)

    def fetch_csrf(self, session_id: str | None) -> tuple[str, str]:
        """(session id, token): the presented session keeps its token, else a new one."""
        if session_id and session_id in self.sessions:
            return session_id, self.sessions[session_id]
        session_id = secrets.token_urlsafe(24)
        self.sessions[session_id] = secrets.token_urlsafe(18)
        return session_id, self.sessions[session_id]

    def csrf_ok(self, session_id: str | None, token: str | None) -> bool:
        expected = self.sessions.get(session_id or "")
        return expected is not None and token is not None and _same(token, expected)

    def expire_csrf_tokens(self) -> None:
        self.sessions.clear()


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def _basic(value: str) -> tuple[str | None, str]:
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None, ""
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else (None, "")


def basic_credentials(authorization: str | None) -> tuple[str | None, str | None]:
    """Client id/secret from a Basic header (OAuth token endpoint)."""
    if not authorization or not authorization.lower().startswith("basic "):
        return None, None
    user, password = _basic(authorization[6:])
    return user, password if user is not None else None
