"""Migration 0003 on a 0002 database whose audit names subjects: the names become pseudonymous
references, the chain is re-hashed and states so in an `audit.rechained` record, and it verifies
(with the superseded head signatures checked, and tampering still caught)."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from db.legacy_0002 import LIVING, PHOTO, PURGED, Legacy, migrate_to, seed
from vigil.accountability.audit import RECHAINED, record_hash
from vigil.accountability.chain import verify_chain
from vigil.accountability.crypto import MAGIC
from vigil.accountability.pseudonyms import PURGED as PURGED_LABEL
from vigil.accountability.pseudonyms import SubjectRefs
from vigil.accountability.signing import Signer, settings_signer
from vigil.config import Settings
from vigil.context import AppContext
from vigil.db.models import AuditEvent, AuditSignature, SubjectKey
from vigil.db.session import Database
from vigil.services.audit_log import AuditFilter, search_audit_resolved


@pytest.fixture()
def migrated(settings: Settings, make_context) -> tuple[AppContext, Legacy, Signer]:
    migrate_to(settings.db_url, "0002")
    legacy_db = Database(settings.db_url)
    signer = settings_signer(settings)
    legacy = seed(legacy_db, signer)
    legacy_db.dispose()
    return make_context(settings), legacy, signer  # migrates to head, seals the new keys


def _audit_text(ctx: AppContext) -> str:
    with ctx.db.read() as s:
        rows = s.execute(text("SELECT actor, action, target, details FROM audit_events")).all()
    return "\n".join(" ".join(str(v) for v in r) for r in rows)


@pytest.fixture()
def database_url(empty_database_url: str | None) -> str | None:
    """These tests start at revision 0002: on PostgreSQL the database must begin empty."""
    return empty_database_url


def test_names_are_replaced_and_the_chain_still_verifies(migrated) -> None:
    ctx, legacy, signer = migrated
    audit_text = _audit_text(ctx)
    for word in (LIVING, PURGED, PHOTO, "john.jpg"):
        assert word not in audit_text
    report = verify_chain(ctx.db, signer)
    assert report.ok, report.problem
    assert report.rechained == (legacy.head_id + 1,)
    assert report.signed_through == legacy.early_signed  # the signature before the rewrite holds
    with ctx.db.read() as s:
        rechained = s.scalars(select(AuditEvent).where(AuditEvent.action == RECHAINED)).one()
        sigs = s.scalars(select(AuditSignature.event_id)).all()
    assert rechained.details["old_head"]["id"] == legacy.head_id
    assert rechained.details["rewritten"] == 7  # 2 enrollments, 3 candidates, 1 view, 1 removal
    assert rechained.details["first_rewritten"] == legacy.early_signed + 1
    assert [h["event_id"] for h in rechained.details["superseded_heads"]] == [8, legacy.head_id]
    assert sigs == [legacy.early_signed]


def test_vigil_audit_verify_reports_the_rechaining(migrated, settings: Settings) -> None:
    from typer.testing import CliRunner

    from vigil.cli.main import app
    from vigil.config import settings_environment

    _ctx, legacy, _signer = migrated
    result = CliRunner().invoke(app, ["audit", "verify"], env=settings_environment(settings))
    assert result.exit_code == 0, result.output
    assert f"re-chained at record {legacy.head_id + 1}" in result.output
    assert "audit chain intact" in result.output


def test_a_living_subject_resolves_and_a_purged_one_does_not(migrated) -> None:
    ctx, legacy, _signer = migrated
    entries = search_audit_resolved(ctx.db, ctx.cipher, AuditFilter(limit=100))
    labels = {
        (e.event.action, e.event.target.split(":")[0], who)
        for e in entries
        for who in e.subjects.values()
    }
    assert ("alert.candidate", "alert", f"wanted/{LIVING}") in labels
    assert ("subject.enroll", "subject", f"wanted/{LIVING}") in labels
    assert ("biometric.view", "subject", f"wanted/{LIVING}") in labels
    assert ("alert.candidate", "alert", PURGED_LABEL) in labels
    assert ("subject.delete", "subject", PURGED_LABEL) in labels
    # John Doe's records still read as one person (one reference), named by no one.
    john = {r for e in entries for r, who in e.subjects.items() if who == PURGED_LABEL}
    assert len(john) == 1
    with ctx.db.read() as s:
        key = s.get(SubjectKey, legacy.jane_id)
        live_ref = SubjectRefs(ctx.cipher).of(s, legacy.jane_id)  # the app derives the same one
        assert s.scalars(select(SubjectKey.subject_id)).all() == [legacy.jane_id]
    assert key is not None and key.encrypted and key.key.startswith(MAGIC)  # sealed at start
    assert any(live_ref in e.subjects for e in entries)


def test_tampering_after_the_rechain_is_still_caught(migrated, settings: Settings) -> None:
    ctx, _legacy, signer = migrated
    with ctx.db.write() as s:  # an edit behind the application's back: no re-hash
        row = s.scalars(
            select(AuditEvent)
            .where(AuditEvent.action == "alert.candidate")
            .order_by(AuditEvent.id)
            .limit(1)
        ).one()
        row.details = {**row.details, "subject": "Jane Roe"}
    report = verify_chain(ctx.db, signer)
    assert report.problem is not None and report.problem.kind == "modified"


def test_a_forged_superseded_signature_is_caught(migrated) -> None:
    """Even with the re-chaining record's own hash recomputed (an attacker with write access),
    its superseded head signatures must verify."""
    ctx, _legacy, signer = migrated
    with ctx.db.write() as s:
        row = s.scalars(select(AuditEvent).where(AuditEvent.action == RECHAINED)).one()
        heads = [dict(h, head_hash="f" * 64) for h in row.details["superseded_heads"]]
        row.details = {**row.details, "superseded_heads": heads}
        row.hash = record_hash(row)
        forged_id = row.id
    report = verify_chain(ctx.db, signer)
    assert report.problem is not None
    assert (report.problem.kind, report.problem.event_id) == ("signature", forged_id)


def test_a_record_tampered_before_the_migration_stays_reported(
    settings: Settings, make_context
) -> None:
    """Re-hashing must not launder an earlier edit: the re-chaining record names it."""
    migrate_to(settings.db_url, "0002")
    legacy_db = Database(settings.db_url)
    signer = settings_signer(settings)
    seed(legacy_db, signer)
    with legacy_db.write() as s:  # someone hid that John Doe's removal took 2 alerts with it
        row = s.scalars(select(AuditEvent).where(AuditEvent.action == "subject.delete")).one()
        row.details = {**row.details, "alerts": 0}
        tampered = row.id
    legacy_db.dispose()

    ctx = make_context(settings)

    report = verify_chain(ctx.db, signer)
    assert report.problem is not None
    assert (report.problem.kind, report.problem.event_id) == ("modified", tampered)
