from datetime import timedelta

import pytest
from sqlalchemy import func, select

from vigil.db.models import AuditEvent, Template
from vigil.db.session import Database
from vigil.domain.enums import AuthorizationStatus
from vigil.errors import Conflict, InputError, NotFound
from vigil.services.authorizations import AuthorizationInput, AuthorizationService
from vigil.timeutil import utcnow


def _input(**changes: object) -> AuthorizationInput:
    base = {
        "reference": "CO-2026-001",
        "purpose": "missing_person",
        "legal_basis": "Court order under s.12",
        "authority": "High Court",
        "expires_at": utcnow() + timedelta(days=7),
    }
    base.update(changes)
    return AuthorizationInput(**base)  # type: ignore[arg-type]


def test_create_and_list_records_audit(db: Database) -> None:
    svc = AuthorizationService(db)
    auth = svc.create(_input(cameras=("cam1",)), actor="alice")
    assert auth.status is AuthorizationStatus.active
    assert [a.reference for a in svc.list()] == ["CO-2026-001"]
    with db.read() as s:
        actions = s.scalars(select(AuditEvent.action)).all()
    assert actions == ["authorization.create"]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"reference": "  "}, "reference is empty"),
        ({"purpose": "general_surveillance"}, "not allowed"),
        ({"legal_basis": ""}, "legal basis is empty"),
        ({"authority": " "}, "authority is empty"),
        ({"expires_at": utcnow() - timedelta(days=1)}, "expiry must be after"),
        ({"cameras": ()}, "camera scope is empty"),
    ],
)
def test_invalid_authorizations_are_refused(db: Database, changes: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        AuthorizationService(db).create(_input(**changes), actor="alice")


def test_duplicate_reference_conflicts(db: Database) -> None:
    svc = AuthorizationService(db)
    svc.create(_input(), actor="a")
    with pytest.raises(Conflict):
        svc.create(_input(), actor="a")


def test_revoke_unknown_and_twice(db: Database) -> None:
    svc = AuthorizationService(db)
    with pytest.raises(NotFound):
        svc.end("nope", AuthorizationStatus.revoked, actor="a")
    svc.create(_input(), actor="a")
    svc.end("CO-2026-001", AuthorizationStatus.refused, actor="a")
    assert svc.get("CO-2026-001").status is AuthorizationStatus.refused
    with pytest.raises(Conflict):
        svc.end("CO-2026-001", AuthorizationStatus.revoked, actor="a")
    with db.read() as s:
        assert s.scalar(select(func.count(Template.id))) == 0
