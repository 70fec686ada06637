"""A database at schema 0002 holding what 0002's code wrote: subjects named in the audit, a purge
already done (alerts 2 and 3 and John Doe deleted), signed chain heads.

Rows are written with plain SQL (the models may have moved on since 0002); audit records as
0002's writer made them (no check of subject names), hashed with the live record format, which
0002 shares (the migration's own copy of it is tested against the live one).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.orm import Session

from vigil.accountability import audit
from vigil.accountability.signing import Signer
from vigil.db.models import AuditEvent
from vigil.db.session import MIGRATIONS_DIR, Database
from vigil.repositories.audit import AuditRepo
from vigil.timeutil import utcnow

LIVING = "Jane Roe"
PURGED = "John Doe"
PHOTO = "Jane_Roe_0001.jpg"  # a file name that names the person


@dataclass(frozen=True, slots=True)
class Legacy:
    jane_id: int
    last_alert_id: int  # the highest alert id ever used (alert 3 was purged)
    last_subject_id: int
    head_id: int
    early_signed: int  # a head signed before the first record that names anyone


def migrate_to(url: str, revision: str) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    command.upgrade(cfg, revision)


def _ts(when: datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S.%f")  # as SQLAlchemy stores DATETIME on SQLite


def _rows(s: Session, now: datetime) -> None:
    t = {"now": _ts(now), "until": _ts(now + timedelta(days=30))}
    s.execute(
        text(
            "INSERT INTO authorizations (id, reference, legal_basis, authority, purpose, cameras,"
            " valid_from, expires_at, status, created_at, created_by) VALUES (1, 'ORD-1', 'Act',"
            " 'Court', 'missing_person', NULL, :now, :until, 'active', :now, 'cli')"
        ),
        t,
    )
    s.execute(
        text(
            "INSERT INTO watchlists (id, name, authorization_id, created_at)"
            " VALUES (1, 'wanted', 1, :now)"
        ),
        t,
    )
    for sid, name in ((1, LIVING), (2, PURGED)):
        s.execute(
            text(
                "INSERT INTO subjects (id, watchlist_id, name, created_at) VALUES (:i, 1, :n, :now)"
            ),
            {**t, "i": sid, "n": name},
        )
    for aid, sid in ((1, 1), (2, 2), (3, 2)):
        s.execute(
            text(
                "INSERT INTO alerts (id, camera, subject_id, watchlist_id, authorization_id,"
                " template_id, score, threshold, pack, first_seen, last_seen, crop,"
                " crop_encrypted, status, created_at) VALUES (:a, 'gate-1', :s, 1, 1, NULL, 0.9,"
                " 0.5, 'dlib', :now, :now, NULL, false, 'candidate', :now)"
            ),
            {**t, "a": aid, "s": sid},
        )


def _record(s: Session, *, actor: str, action: str, target: str, details: dict) -> AuditEvent:
    """What 0002's ``audit.record`` did: append one hashed record to the chain."""
    repo = AuditRepo(s)
    head = repo.head()
    event = AuditEvent(
        id=(head.id + 1) if head else 1,
        ts=utcnow(),
        actor=actor,
        action=action,
        target=target,
        details=details,
        prev_hash=head.hash if head else audit.GENESIS,
    )
    event.hash = audit.record_hash(event)
    repo.append(event)
    return event


def _candidate(s: Session, alert_id: int, name: str) -> None:
    details = {
        "input": {"camera": "gate-1", "from": "x", "to": "y", "template_id": None},
        "subject": name,
        "watchlist": "wanted",
        "authorization": "ORD-1",
        "score": 0.9,
        "threshold": 0.5,
        "pack": "dlib",
    }
    _record(
        s, actor="system", action="alert.candidate", target=f"alert:{alert_id}", details=details
    )


def seed(db: Database, signer: Signer) -> Legacy:
    """Fill a database at 0002 (see the module docstring)."""
    with db.write() as s:
        _rows(s, utcnow())
        _record(s, actor="sup", action="authorization.create", target="ORD-1", details={})
        _record(s, actor="sup", action="watchlist.create", target="wanted", details={})
    audit.sign_head(db, signer)
    with db.write() as s:
        for name in (LIVING, PURGED):
            _record(
                s,
                actor="sup",
                action="subject.enroll",
                target=f"wanted/{name}",
                details={"photos": [PHOTO if name == LIVING else "john.jpg"], "templates": 1},
            )
        for alert_id, name in ((1, LIVING), (2, PURGED), (3, PURGED)):
            _candidate(s, alert_id, name)
        _record(s, actor="op", action="biometric.view", target="subject:1", details={})
    audit.sign_head(db, signer)
    with db.write() as s:  # 0002's removal of John Doe: rows deleted, the audit names him
        s.execute(text("DELETE FROM alerts WHERE subject_id = 2"))
        s.execute(text("DELETE FROM subjects WHERE id = 2"))
        _record(
            s,
            actor="sup",
            action="subject.delete",
            target=f"wanted/{PURGED}",
            details={"alerts": 2, "templates": 0, "subjects": 1},
        )
        head = _record(s, actor="sup", action="user.login", target="sup", details={})
    audit.sign_head(db, signer)
    return Legacy(jane_id=1, last_alert_id=3, last_subject_id=2, head_id=head.id, early_signed=2)
