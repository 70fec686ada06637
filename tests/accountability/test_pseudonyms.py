"""A purge leaves nothing readable about the person (issue 13, Medium 4): the audit names a subject
by a pseudonymous reference keyed per subject; the purge destroys the key. The chain verifies,
and while the subject lives an auditor resolves the reference."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import inspect, select, text

from vigil.accountability.chain import verify_chain
from vigil.accountability.crypto import MAGIC
from vigil.accountability.pseudonyms import PURGED, SubjectRefs, reference, refs_in
from vigil.accountability.signing import Signer
from vigil.context import AppContext
from vigil.db.models import AuditEvent, SubjectKey
from vigil.domain.enums import AuthorizationStatus
from vigil.services.alerts import AlertBus, AlertQueries, AlertStore
from vigil.services.audit_log import AuditFilter, search_audit_resolved
from vigil.services.authorizations import AuthorizationInput, AuthorizationService
from vigil.services.gallery import ActiveGallery
from vigil.services.watchlists import WatchlistService
from vigil.timeutil import utcnow
from vigil.types import CandidateAlert, Embedding, Match, Quality, ValidatedFace

JANE = "Jane Roe"
JANE_PHOTO = "Jane_Roe_0001.jpg"  # file names can name the person too
MAX = "Max Mustermann"  # the positive control: not purged


def _case(
    ctx: AppContext, reference_: str, watchlist: str, name: str, photo: str, seed: int
) -> int:
    now = utcnow()
    AuthorizationService(ctx.db).create(
        AuthorizationInput(
            reference_,
            "missing_person",
            "Art 1",
            "Court",
            now + timedelta(days=1),
            valid_from=now - timedelta(hours=1),
        ),
        actor="sup",
    )
    wl = WatchlistService(ctx.db, ctx.cipher)
    wl.create(watchlist, reference_, actor="sup")
    vector = Embedding.normalised(np.random.default_rng(seed).random(128, dtype=np.float32), "dlib")
    face = ValidatedFace(vector, Quality(1, 1, 1, 1), b"\xff\xd8 crop \xff\xd9", photo)
    return wl.enroll(watchlist, name, [face], actor="sup").subject_id


def _alert(ctx: AppContext, name: str) -> int:
    entries = ActiveGallery(ctx.db, ctx.cipher, ctx.settings, "dlib").refresh().entries
    entry = next(e for e in entries if e.subject_name == name)
    now = utcnow()
    cand = CandidateAlert(
        "gate-1", now - timedelta(seconds=3), now, Match(entry, 0.93), b"jpg", 0.0
    )
    return AlertStore(ctx.db, ctx.cipher, ctx.settings, AlertBus()).save(cand)


def _mentions(ctx: AppContext, needles: list[str]) -> list[str]:
    """'table.column' of every text or blob value that contains a needle (as text or bytes)."""
    hits = []
    with ctx.db.read() as s:
        for table in inspect(s.bind).get_table_names():
            for row in s.execute(text(f'SELECT * FROM "{table}"')).mappings():
                for column, value in row.items():
                    raw = value if isinstance(value, bytes) else str(value).encode()
                    if any(n.encode() in raw or n.lower().encode() in raw.lower() for n in needles):
                        hits.append(f"{table}.{column}")
    return sorted(set(hits))


def _on_disk(home: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(home.rglob("*")) if p.is_file())


@pytest.fixture()
def scene(context: AppContext) -> dict[str, int]:
    jane = _case(context, "ORD-JANE", "missing", JANE, JANE_PHOTO, 1)
    mx = _case(context, "ORD-MAX", "wanted", MAX, "max.jpg", 2)
    alerts = [_alert(context, JANE), _alert(context, JANE), _alert(context, MAX)]
    queries = AlertQueries(context.db, context.cipher)
    queries.subject_photo(jane, viewer="auditor")
    queries.crop(alerts[0], viewer="auditor")
    return {"jane": jane, "max": mx, "jane_alert": alerts[0], "max_alert": alerts[2]}


def test_audit_records_carry_references_that_an_auditor_resolves(
    context: AppContext, scene: dict[str, int]
) -> None:
    entries = search_audit_resolved(context.db, context.cipher, AuditFilter(limit=1000))
    named = {(e.event.action, label) for e in entries for label in e.subjects.values()}
    assert {
        ("subject.enroll", f"missing/{JANE}"),
        ("alert.candidate", f"missing/{JANE}"),
        ("biometric.view", f"missing/{JANE}"),
        ("alert.candidate", f"wanted/{MAX}"),
    } <= named
    with context.db.read() as s:
        jane_ref = SubjectRefs(context.cipher).of(s, scene["jane"])
        key = s.get(SubjectKey, scene["jane"])
    assert key is not None and key.encrypted and key.key.startswith(MAGIC)  # sealed at rest
    candidate = next(
        e
        for e in entries
        if e.event.target == f"alert:{scene['jane_alert']}" and e.event.action == "alert.candidate"
    )
    assert candidate.event.details["subject"] == jane_ref
    assert re.fullmatch(r"ps-[0-9a-f]{32}", jane_ref)
    assert _mentions(context, [JANE, "Jane_Roe"]) == ["subjects.name"]  # the audit has no name


@pytest.mark.parametrize("how", ["revoke", "remove"])
def test_a_purge_leaves_nothing_readable_about_the_person(
    context: AppContext, scene: dict[str, int], signer: Signer, how: str
) -> None:
    with context.db.read() as s:
        jane_ref = SubjectRefs(context.cipher).of(s, scene["jane"])
        max_ref = SubjectRefs(context.cipher).of(s, scene["max"])
    if how == "revoke":
        AuthorizationService(context.db).end("ORD-JANE", AuthorizationStatus.revoked, actor="sup")
    else:
        WatchlistService(context.db, context.cipher).remove_subject(scene["jane"], actor="sup")
    context.db.checkpoint()

    assert _mentions(context, [JANE, "Jane_Roe"]) == []
    assert _mentions(context, [MAX]) == ["subjects.name"]  # positive control: the scan sees names
    disk = _on_disk(context.settings.home)
    assert JANE.encode() not in disk and b"Jane_Roe" not in disk
    with context.db.read() as s:
        assert s.get(SubjectKey, scene["jane"]) is None  # the key is gone
        labels = SubjectRefs(context.cipher).resolve(s, [jane_ref, max_ref])
        records = s.scalars(select(AuditEvent)).all()
    assert labels == {jane_ref: PURGED, max_ref: f"wanted/{MAX}"}
    assert sum(jane_ref in refs_in(e.target, e.details) for e in records) >= 4  # still counted
    report = verify_chain(context.db, signer)
    assert report.ok, report.problem


def test_the_migration_copies_match_the_live_functions() -> None:
    """0003 hashes and derives references with frozen copies: they must agree with the code."""
    from importlib import util

    from vigil.accountability.audit import canonical
    from vigil.db.session import MIGRATIONS_DIR

    spec = util.spec_from_file_location("m0003", MIGRATIONS_DIR / "versions" / "0003_ids.py")
    assert spec and spec.loader
    module = util.module_from_spec(spec)
    spec.loader.exec_module(module)
    key = bytes(range(32))
    assert module.reference(key, 7) == reference(key, 7)
    ts = utcnow()
    row = {"ts": ts, "actor": "a", "action": "b", "target": "c", "details": {"x": [1, "y"]}}
    assert module.canonical(row, 9, "p" * 64) == canonical(
        9, ts, "a", "b", "c", row["details"], "p" * 64
    )


def test_a_key_rotation_reseals_subject_keys_and_references_still_resolve(
    context: AppContext, scene: dict[str, int]
) -> None:
    from vigil.accountability.crypto import blob_key_id, read_keyring
    from vigil.accountability.deployment_lock import DeploymentLock
    from vigil.accountability.rotation import rotate_key

    with context.db.read() as s:
        before = SubjectRefs(context.cipher).of(s, scene["max"])
    result = rotate_key(
        context.db,
        Path(context.key_path),
        actor="admin",
        lock=DeploymentLock(context.settings.home),
    )
    assert result.retired_key_ids == (result.old_key_id,)  # nothing kept the old key alive
    (current,) = read_keyring(Path(context.key_path)).ids
    with context.db.read() as s:
        keys = s.scalars(select(SubjectKey)).all()
        assert {blob_key_id(k.key) for k in keys} == {current}
        assert SubjectRefs(context.cipher).resolve(s, [before]) == {before: f"wanted/{MAX}"}


@pytest.mark.parametrize(
    ("target", "details", "refused"),
    [
        ("alert:1", {"subject": "Jane Roe"}, True),
        ("subject:3", {}, True),
        ("subject:missing/Jane Roe", {}, True),
        ("alert:1", {"subject": "ps-" + "0" * 32}, False),
        ("subject:ps-" + "a" * 32, {"watchlist": "missing"}, False),
        ("subjects", {"count": 2}, False),
    ],
)
def test_the_audit_writer_refuses_a_subject_named_otherwise_than_by_reference(
    context: AppContext, target: str, details: dict[str, object], refused: bool
) -> None:
    from vigil.accountability import audit

    with context.db.write() as s:
        if refused:
            with pytest.raises(ValueError, match="pseudonymous reference"):
                audit.record(s, actor="t", action="x", target=target, details=details)
        else:
            assert audit.record(s, actor="t", action="x", target=target, details=details).id


def test_vigil_audit_list_shows_who_a_reference_stands_for(
    context: AppContext, scene: dict[str, int]
) -> None:
    import json

    from typer.testing import CliRunner

    from vigil.cli.main import app
    from vigil.config import settings_environment

    def listed(*args: str) -> str:
        env = settings_environment(context.settings)
        result = CliRunner().invoke(app, ["audit", "list", *args], env=env)
        assert result.exit_code == 0, result.output
        return result.output

    assert f"= missing/{JANE}" in listed("--action", "subject.enroll")
    AuthorizationService(context.db).end("ORD-JANE", AuthorizationStatus.revoked, actor="sup")
    rows = json.loads(listed("--action", "alert.candidate", "--json"))
    assert sorted(label for r in rows for label in r["subjects"].values()) == [
        PURGED,
        PURGED,
        f"wanted/{MAX}",
    ]
    assert JANE not in json.dumps(rows)
