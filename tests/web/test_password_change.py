"""Issue 13, Low: a password change applies the policy (blocklist, not the current one)."""

from __future__ import annotations

from typing import Any

import pytest

from vigil.domain.enums import Role


@pytest.mark.parametrize(
    ("new", "status"),
    [
        ("password123456", 400),  # common
        ("operator-correct-horse-battery", 400),  # the current one again
        ("a-long-new-password", 204),
    ],
)
def test_change_password_applies_the_policy(env: Any, new: str, status: int) -> None:
    c = env.client(Role.operator)
    r = c.post(
        "/api/auth/password",
        json={"current_password": "operator-correct-horse-battery", "new_password": new},
    )
    assert r.status_code == status, r.text
