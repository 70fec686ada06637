"""Retention: each data class is deleted after its own period; the run is recorded and audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from vigil.accountability.chain import verify_chain
from vigil.accountability.crypto import DataCipher
from vigil.accountability.jobs import AccountabilityJobs
from vigil.accountability.retention import RetentionService
from vigil.accountability.signing import Signer
from vigil.config import RetentionConfig, Settings
from vigil.context import AppContext
from vigil.db.models import (
    Alert,
    AuditEvent,
    AuditSignature,
    Authorization,
    FaceCount,
    RetentionRun,
    Review,
    Subject,
    Watchlist,
)
from vigil.db.session import Database
from vigil.domain.enums import AlertStatus, Purpose
from vigil.timeutil import to_minute, utcnow
from waiting import wait_for

CFG = RetentionConfig(
    candidate_alert_days=10,
    rejected_alert_days=20,
    confirmed_alert_days=40,
    crop_days=5,
    count_days=50,
    audit_days=183,
)

# (status, age in days) -> deleted?  Crops go after 5 days even when the alert stays.
ALERTS = [
    (AlertStatus.candidate, 9, False),
    (AlertStatus.candidate, 11, True),
    (AlertStatus.pending_second, 11, True),
    (AlertStatus.rejected, 19, False),
    (AlertStatus.rejected, 21, True),
    (AlertStatus.confirmed, 39, False),
    (AlertStatus.confirmed, 41, True),
]


def _seed(db: Database, cipher: DataCipher) -> None:
    now = utcnow()
    with db.write() as s:
        auth = Authorization(
            reference="R1",
            legal_basis="b",
            authority="a",
            purpose=Purpose.missing_person,
            valid_from=now - timedelta(days=100),
            expires_at=now + timedelta(days=100),
        )
        s.add(auth)
        s.flush()
        wl = Watchlist(name="w", authorization_id=auth.id)
        s.add(wl)
        s.flush()
        subj = Subject(watchlist_id=wl.id, name="someone")
        s.add(subj)
        s.flush()
        for status, age, _ in ALERTS:
            when = now - timedelta(days=age)
            alert = Alert(
                camera="c",
                subject_id=subj.id,
                watchlist_id=wl.id,
                authorization_id=auth.id,
                score=0.9,
                threshold=0.5,
                pack="onnx",
                first_seen=when,
                last_seen=when,
                status=status,
                created_at=when,
                decided_at=when,
                crop=b"",
            )
            s.add(alert)
            s.flush()
            alert.crop = cipher.seal(b"jpeg-bytes", f"alert:{alert.id}".encode())
            s.add(Review(alert_id=alert.id, username="u", decision="confirm"))
        for age in (49, 51):
            s.add(FaceCount(camera="c", minute=to_minute(now - timedelta(days=age)), faces=3))


@pytest.mark.sqlite_only
def test_secure_delete_is_on(db: Database) -> None:
    with db.read() as s:
        assert s.execute(text("PRAGMA secure_delete")).scalar() == 1


def test_each_class_is_deleted_after_its_period(db: Database, signer: Signer) -> None:
    cipher = DataCipher(b"k" * 32)
    _seed(db, cipher)
    result = RetentionService(db, CFG, signer).run()
    assert result.deleted["candidate_alerts"] == 2
    assert result.deleted["rejected_alerts"] == 1
    assert result.deleted["confirmed_alerts"] == 1
    assert result.deleted["face_counts"] == 1
    assert result.deleted["crops"] == 3  # the three kept alerts older than 5 days
    with db.read() as s:
        kept = {(a.status, a.crop is None) for a in s.scalars(select(Alert))}
        assert kept == {
            (AlertStatus.candidate, True),
            (AlertStatus.rejected, True),
            (AlertStatus.confirmed, True),
        }
        assert s.scalar(select(func.count(Review.id))) == 3  # reviews went with their alerts
        assert s.scalar(select(func.count(FaceCount.id))) == 1
        run = s.scalar(select(RetentionRun))
        assert run is not None and run.deleted == result.deleted
        event = s.scalar(select(AuditEvent).where(AuditEvent.action == "retention.purge"))
        assert event is not None and event.details["deleted"] == result.deleted
    assert "jpeg-bytes" not in str(result.deleted)


def test_nothing_due_deletes_nothing(db: Database, signer: Signer) -> None:
    cipher = DataCipher(b"k" * 32)
    _seed(db, cipher)
    svc = RetentionService(
        db,
        CFG.model_copy(
            update={
                "crop_days": 60,
                "confirmed_alert_days": 60,
                "rejected_alert_days": 60,
                "candidate_alert_days": 60,
                "count_days": 60,
            }
        ),
        signer,
    )
    assert svc.run().total == 0


def test_audit_is_pruned_as_a_prefix_and_still_verifies(db: Database, signer: Signer) -> None:
    svc = RetentionService(db, CFG, signer)
    svc.run()
    svc.run()
    later = svc.run(now=utcnow() + timedelta(days=200))
    assert later.deleted["audit_events"] == 1  # the older of the two records; the newest stays
    report = verify_chain(db, signer)
    assert report.ok, report.problem
    assert report.first_id == 2 and report.last_id == 3
    with db.read() as s:
        anchors = s.scalars(select(AuditSignature.signature)).all()
        assert any(a.startswith("anchor:") for a in anchors)


@pytest.mark.parametrize("days", [0, 182, -1])
def test_audit_retention_below_six_months_is_refused(days: int) -> None:
    with pytest.raises(ValueError, match="183"):
        RetentionConfig(audit_days=days)


def test_jobs_run_once_signs_and_purges(context: AppContext, settings: Settings) -> None:
    jobs = AccountabilityJobs(context.db, context.settings)
    first = jobs.run_once()
    assert first.retention is not None and first.signature is not None
    assert (settings.home / "keys" / "signing.key").stat().st_mode & 0o777 == 0o600
    assert jobs.run_once(retention=False).signature is None  # head already signed
    assert verify_chain(context.db, jobs.signer).signed_through == first.signature.event_id


def test_jobs_thread_starts_and_stops(context: AppContext) -> None:
    jobs = AccountabilityJobs(context.db, context.settings)
    jobs.start(interval=0.05)

    def signed() -> int:
        with context.db.read() as s:
            return s.scalar(select(func.count(AuditSignature.id))) or 0

    try:
        wait_for(signed, "the jobs thread to sign the audit chain")
    finally:
        jobs.stop()
    with context.db.read() as s:
        assert s.scalar(select(func.count(RetentionRun.id))) >= 1
