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


def _watchlist_with_subjects(db: Database, auth_id: int, subjects: int) -> None:
    from vigil.db.models import Alert, Subject, Watchlist

    now = utcnow()
    with db.write() as s:
        wl = Watchlist(name=f"list-{subjects}", authorization_id=auth_id)
        s.add(wl)
        s.flush()
        for i in range(subjects):
            subject = Subject(watchlist_id=wl.id, name=f"person {i}")
            s.add(subject)
            s.flush()
            s.add(Template(subject_id=subject.id, pack="dlib", dim=2, vector=b"\0" * 8))
            s.add(
                Alert(
                    camera="gate-1",
                    subject_id=subject.id,
                    watchlist_id=wl.id,
                    authorization_id=auth_id,
                    score=0.9,
                    threshold=0.5,
                    pack="dlib",
                    first_seen=now,
                    last_seen=now,
                )
            )


@pytest.mark.parametrize("subjects", [3, 40])
def test_a_revocation_purges_in_a_fixed_number_of_statements(db: Database, subjects: int) -> None:
    """Not one statement per subject: a revocation of 100,000 subjects must finish in seconds."""
    from sqlalchemy import event

    from vigil.db.models import Alert, Subject

    svc = AuthorizationService(db)
    auth = svc.create(_input(), actor="a")
    _watchlist_with_subjects(db, auth.id, subjects)
    deletes: list[str] = []

    def count(conn, cursor, statement: str, *args: object) -> None:  # type: ignore[no-untyped-def]
        if statement.lstrip().upper().startswith("DELETE"):
            deletes.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        purged = svc.end("CO-2026-001", AuthorizationStatus.revoked, actor="a")
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert purged == {"alerts": subjects, "templates": subjects, "subjects": subjects}
    assert len(deletes) <= 4, deletes  # alerts by authorization, then alerts, templates, subjects
    with db.read() as s:
        for model in (Alert, Subject, Template):
            assert s.scalar(select(func.count()).select_from(model)) == 0
