"""The web side of credentials: cookie names, CSRF, and re-exports of the credential helpers.

* Passwords, API tokens and session tokens are made and hashed in
  :mod:`vigil.services.credentials`; sessions live in the database
  (:class:`vigil.services.sessions.SessionService`) and the login throttle too
  (:class:`vigil.services.throttle.LoginThrottle`).
* The session cookie holds ``token.signature`` (HMAC-SHA256 with ``server.secret_key``).
* CSRF: each session has its own random token, sent in a readable cookie; every state-changing
  request made with the session cookie must echo it in the ``X-CSRF-Token`` header
  (double submit, compared with the server-side copy). Bearer-token calls are exempt.
"""

from __future__ import annotations

import hmac

from vigil.services.credentials import (
    MIN_PASSWORD_LENGTH,
    TOKEN_PREFIX,
    generate_api_token,
    generate_password,
    hash_api_token,
    hash_password,
    production_hasher,
    verify_password,
)
from vigil.services.sessions import SessionRecord

SESSION_COOKIE = "vigil_session"
CSRF_COOKIE = "vigil_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

__all__ = [
    "CSRF_COOKIE",
    "CSRF_HEADER",
    "MIN_PASSWORD_LENGTH",
    "SAFE_METHODS",
    "SESSION_COOKIE",
    "TOKEN_PREFIX",
    "SessionRecord",
    "csrf_ok",
    "generate_api_token",
    "generate_password",
    "hash_api_token",
    "hash_password",
    "production_hasher",
    "verify_password",
]


def csrf_ok(record: SessionRecord, header_value: str | None) -> bool:
    return bool(header_value) and hmac.compare_digest(header_value or "", record.csrf_token)
