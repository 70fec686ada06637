"""One user per role, named after it, for the web and browser tests.

The maintainer is made the only way the product allows: created by ``admin`` with an expiry and
approved by ``supervisor`` (a second person), so it can log in.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from vigil.db.session import Database
from vigil.domain.enums import Role
from vigil.services.maintainers import approve_maintainer
from vigil.services.users import create_maintainer, create_user


def create_role_users(db: Database, passwords: Mapping[Role, str]) -> None:
    for role in Role:
        if role is not Role.maintainer:
            create_user(db, role.value, role, passwords[role], actor="test")
    user, _ = create_maintainer(
        db,
        Role.maintainer.value,
        timedelta(hours=72),
        actor=Role.admin.value,
        password=passwords[Role.maintainer],
    )
    approve_maintainer(db, user.id, actor=Role.supervisor.value)
