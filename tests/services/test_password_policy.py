"""Issue 13, Low: NIST 800-63B blocklist and the current password refused again."""

from __future__ import annotations

import pytest

from vigil.errors import InputError
from vigil.services.password_policy import check_password, common_passwords, weakness


@pytest.mark.parametrize(
    ("password", "username", "why"),
    [
        ("short", None, "characters"),
        ("1q2w3e4r5t6y7u8i9o0p", None, "commonly used"),  # on the list
        ("QwertyQwerty", None, "commonly used"),  # case does not matter
        ("Password2024!!!!", None, "commonly used"),  # listed word + digits/punctuation
        ("iloveyou123456", None, "commonly used"),
        ("aaaaaaaaaaaaaaaa", None, "repetitive"),
        ("abababababababab", None, "repetitive"),
        ("zyxwvutsrqpo", None, "sequential"),
        ("abcdefghijklmn", None, "sequential"),
        ("lmnopqrstuvwxy", None, "sequential"),
        ("my-name-is-alice-ok", "alice", "username"),
        ("a-long-new-password", None, None),
        ("auditor-correct-horse-battery", None, None),
        ("my-name-is-alice-ok", "bob", None),
    ],
)
def test_policy_table(password: str, username: str | None, why: str | None) -> None:
    found = weakness(password, username)
    if why is None:
        assert found is None
        assert check_password(password, username) == password
    else:
        assert found is not None and why in found
        with pytest.raises(InputError):
            check_password(password, username)


def test_the_shipped_list_is_loaded() -> None:
    words = common_passwords()
    assert len(words) > 10_000 and "password" in words
