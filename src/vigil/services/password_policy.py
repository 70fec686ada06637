"""The password policy (NIST SP 800-63B, 5.1.1.2): a minimum length and no password that is
commonly used, repetitive or sequential, or built from the username.

The blocklist is package data (``password_data/common-passwords.txt.gz``, see its SOURCES.md),
loaded once on first use. A candidate is refused when, case-folded, it is on the list, or is a
listed word followed only by digits and punctuation ("password2024!"), or uses at most three
different characters, or is one ascending/descending run ("123456789012"), or contains the
username.
"""

from __future__ import annotations

import gzip
import string
from functools import cache
from importlib.resources import files
from itertools import pairwise

from vigil.errors import InputError
from vigil.services.credentials import MIN_PASSWORD_LENGTH

MAX_PASSWORD_LENGTH = 1024
_TRAILING = string.digits + string.punctuation + " "
_HINT = "choose a longer passphrase of several unrelated words"


@cache
def common_passwords() -> frozenset[str]:
    """The blocklist, case-folded (read from the package once)."""
    blob = files("vigil.services").joinpath("password_data/common-passwords.txt.gz").read_bytes()
    words = gzip.decompress(blob).decode("utf-8").split()
    return frozenset(w.strip().casefold() for w in words if w.strip())


def _sequential(text: str) -> bool:
    steps = {ord(b) - ord(a) for a, b in pairwise(text)}
    return len(steps) == 1 and steps <= {-1, 1}


def weakness(password: str, username: str | None = None) -> str | None:
    """Why ``password`` is too weak (a short phrase), or None when it passes the policy."""
    folded = password.casefold()
    if len(password) < MIN_PASSWORD_LENGTH:
        return f"has {len(password)} characters; at least {MIN_PASSWORD_LENGTH} are needed"
    if len(password) > MAX_PASSWORD_LENGTH:
        return f"is longer than {MAX_PASSWORD_LENGTH} characters"
    blocked = common_passwords()
    stem = folded.rstrip(_TRAILING)
    if folded in blocked or (len(stem) >= 4 and stem in blocked):
        return "is one of the most commonly used passwords"
    if len(set(folded)) <= 3 or _sequential(folded):
        return "is too repetitive or sequential"
    if username and len(username) >= 3 and username.casefold() in folded:
        return "contains the username"
    return None


def check_password(password: str, username: str | None = None) -> str:
    """``password`` when it passes the policy; else an InputError saying why."""
    why = weakness(password, username)
    if why is not None:
        raise InputError(f"the password {why}", hint=_HINT)
    return password
