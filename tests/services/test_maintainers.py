"""Maintenance accounts: at most 72 h, approved by a second person, refused (like a wrong
password, but audited) before approval and after expiry; counted in the transparency report."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from vigil.accountability.report import build_report
from vigil.accountability.report_render import maintenance_line, to_dict
from vigil.config import Settings
from vigil.db.models import AuditEvent
from vigil.db.session import Database
from vigil.domain.enums import Role
from vigil.errors import AuthenticationFailed, Conflict, InputError, PermissionDenied
from vigil.repositories.users import UserRepo
from vigil.services.maintainers import approve_maintainer
from vigil.services.users import LOGIN_FAILED, UserService, create_maintainer, create_user
from vigil.timeutil import utcnow

PASSWORD = "granite-orchard-violin-58"


@pytest.fixture()
def users(db: Database, settings: Settings) -> UserService:
    create_user(db, "ada", Role.admin, PASSWORD, actor="test")
    create_user(db, "bert", Role.admin, PASSWORD, actor="test")
    create_user(db, "sue", Role.supervisor, PASSWORD, actor="test")
    create_user(db, "otto", Role.operator, PASSWORD, actor="test")
    return UserService(db, settings.server)


def _maintainer(db: Database, hours: float = 8, name: str = "eng") -> int:
    user, _ = create_maintainer(db, name, timedelta(hours=hours), actor="ada", password=PASSWORD)
    return user.id


def _failures(db: Database) -> list[str]:
    with db.read() as s:
        rows = s.scalars(select(AuditEvent).where(AuditEvent.action == "user.login_failed"))
        return [str(r.details["reason"]) for r in rows]


@pytest.mark.parametrize(
    ("hours", "error"),
    [
        (72.0, None),
        (0.5, None),
        (72.01, "at most 72 hours"),
        (24 * 7, "at most 72 hours"),
        (0.0, "positive validity"),
        (-1.0, "positive validity"),
    ],
)
def test_validity_is_at_most_72_hours(
    users: UserService, db: Database, hours: float, error: str | None
) -> None:
    if error is None:
        user, _ = create_maintainer(db, "eng", timedelta(hours=hours), actor="ada")
        assert user.expires_at is not None and user.approved_at is None
        assert user.expires_at - utcnow() <= timedelta(hours=72)
    else:
        with pytest.raises(InputError, match=error):
            create_maintainer(db, "eng", timedelta(hours=hours), actor="ada")


@pytest.mark.parametrize("creator", ["sue", "otto", "nobody"])
def test_only_an_admin_creates_one(users: UserService, db: Database, creator: str) -> None:
    with pytest.raises(PermissionDenied, match="may not create"):
        create_maintainer(db, "eng", timedelta(hours=1), actor=creator)


def test_a_maintainer_is_never_made_without_an_expiry(users: UserService, db: Database) -> None:
    with pytest.raises(InputError, match="expiry"):
        create_user(db, "eng", Role.maintainer, PASSWORD, actor="ada")
    otto = next(u for u in users.list() if u.username == "otto")
    with pytest.raises(InputError, match="maintenance account"):
        users.update(otto.id, role=Role.maintainer, active=None, actor="ada")


@pytest.mark.parametrize(
    ("approver", "error"),
    [
        ("ada", PermissionDenied),  # the creator
        ("otto", PermissionDenied),  # an operator
        ("nobody", PermissionDenied),
        ("bert", None),  # a second admin
        ("sue", None),  # a supervisor
    ],
)
def test_a_second_person_approves(
    users: UserService, db: Database, approver: str, error: type[Exception] | None
) -> None:
    uid = _maintainer(db)
    if error is not None:
        with pytest.raises(error):
            users.approve_maintainer(uid, actor=approver)
        assert users.get(uid).approved_at is None
        return
    user = users.approve_maintainer(uid, actor=approver)
    assert user.approved_by == approver and user.approved_at is not None
    with pytest.raises(Conflict, match="already approved"):
        users.approve_maintainer(uid, actor="sue")


def test_approving_another_role_or_an_expired_account_is_refused(
    users: UserService, db: Database
) -> None:
    otto = next(u for u in users.list() if u.username == "otto")
    with pytest.raises(Conflict, match="not a maintenance account"):
        approve_maintainer(db, otto.id, actor="sue")
    uid = _maintainer(db)
    _expire(db, uid)
    with pytest.raises(Conflict, match="expired"):
        approve_maintainer(db, uid, actor="sue")


def _expire(db: Database, uid: int) -> None:
    with db.write() as s:
        UserRepo(s).get(uid).expires_at = utcnow() - timedelta(seconds=1)


def test_login_before_approval_and_after_expiry_looks_like_a_wrong_password(
    users: UserService, db: Database
) -> None:
    uid = _maintainer(db)
    with pytest.raises(AuthenticationFailed) as wrong:
        users.login("eng", "not-the-password-at-all", client="10.0.0.1")
    with pytest.raises(AuthenticationFailed) as early:
        users.login("eng", PASSWORD, client="10.0.0.1")
    assert str(early.value) == str(wrong.value)
    assert str(early.value).startswith(LOGIN_FAILED)
    users.approve_maintainer(uid, actor="sue")
    assert users.login("eng", PASSWORD, client="10.0.0.1").username == "eng"
    _expire(db, uid)
    with pytest.raises(AuthenticationFailed) as late:
        users.login("eng", PASSWORD, client="10.0.0.1")
    assert str(late.value) == str(wrong.value)
    assert _failures(db) == [
        "wrong credentials",
        "maintenance account not approved yet",
        "maintenance account expired",
    ]


def test_expiry_ends_the_api_tokens(users: UserService, db: Database) -> None:
    uid = _maintainer(db)
    users.approve_maintainer(uid, actor="bert")
    _, token = users.create_token(uid, "laptop", actor="eng")
    assert users.user_for_token(token) is not None
    _expire(db, uid)
    assert users.user_for_token(token) is None


def test_the_report_counts_maintenance_sessions_and_hours(
    users: UserService, db: Database, settings: Settings
) -> None:
    start = utcnow() - timedelta(hours=1)
    uid = _maintainer(db, hours=10)
    _maintainer(db, hours=10, name="eng2")  # never approved: no access, no hours
    users.approve_maintainer(uid, actor="sue")
    for _ in range(2):
        users.login("eng", PASSWORD, client="10.0.0.1")
    users.login("otto", PASSWORD, client="10.0.0.1")  # not maintenance
    end = start + timedelta(hours=5)
    report = build_report(db, settings, start, end)
    assert report.maintenance_sessions == 2
    assert 3.9 < report.maintenance_hours <= 4.0  # approved ~now, counted to the period's end
    assert to_dict(report)["maintenance_access"]["sessions"] == 2
    assert maintenance_line(report) == "maintenance access: 2 sessions, 4.0 hours"
    before = build_report(db, settings, start - timedelta(days=2), start - timedelta(days=1))
    assert (before.maintenance_sessions, before.maintenance_hours) == (0, 0.0)


def test_the_public_page_publishes_maintenance_hours(
    users: UserService, db: Database, settings: Settings
) -> None:
    from vigil.accountability.public_report import build_public_payload

    def hours(now: object) -> float:
        payload = build_public_payload(db, settings, now, months=1)  # type: ignore[arg-type]
        return float(payload["deployment"][-1]["maintenance_hours"])

    now = utcnow()
    assert hours(now) == 0.0
    uid = _maintainer(db, hours=10)
    users.approve_maintainer(uid, actor="sue")
    later = utcnow() + timedelta(hours=2)
    if later.month != now.month:  # the window crosses a month: only this month's part counts
        pytest.skip("runs within two hours of a month's end")
    assert 1.9 < hours(later) <= 2.01  # approved ~now, counted up to the page's "now"
