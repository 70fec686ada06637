"""The encrypted gallery snapshot: a restart loads it and applies the difference by id; a purge
makes it unreadable at once and the running server rewrites it; a bad, stale or rotated-away
snapshot falls back to a build (one log line, never a crash). Real SQLite database, real cipher.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import delete, func, select

from services.test_gallery_sync import CountingCipher, face, seed_subject
from vigil.accountability.crypto import DataCipher, read_keyring
from vigil.accountability.deployment_lock import DeploymentLock
from vigil.accountability.rotation import rotate_key
from vigil.context import AppContext
from vigil.db.models import Authorization, Subject, Template
from vigil.domain.enums import AuthorizationStatus
from vigil.repositories.gallery_snapshots import SnapshotKeyRepo, snapshot_key_aad
from vigil.services.authorizations import AuthorizationService
from vigil.services.gallery import ActiveGallery, GalleryHub
from vigil.services.gallery_snapshot import GallerySnapshotStore
from vigil.services.watchlists import WatchlistService
from vigil.timeutil import utcnow

PACK = "dlib"


def store(
    ctx: AppContext, max_age: timedelta = timedelta(days=7), cipher: DataCipher | None = None
) -> GallerySnapshotStore:
    return GallerySnapshotStore(ctx.settings.home, ctx.db, cipher or ctx.cipher, max_age)


def start(
    ctx: AppContext, cipher: DataCipher | None = None, **kw
) -> tuple[ActiveGallery, CountingCipher]:
    """A command center's gallery starting up: snapshot if usable, else a build."""
    counting = CountingCipher(cipher or ctx.cipher)
    snapshots = store(ctx, cipher=cipher, **kw)
    gallery = ActiveGallery(ctx.db, counting, ctx.settings, PACK, snapshots=snapshots)  # type: ignore[arg-type]
    gallery.refresh()
    return gallery, counting


def refs(gallery: ActiveGallery) -> set[str]:
    return {e.authorization_reference for e in gallery.snapshot().entries}


def snapshot_plain(ctx: AppContext) -> bytes | None:
    """The snapshot file opened with the key the database holds, or None when it has none."""
    with ctx.db.read() as s:
        sealed = SnapshotKeyRepo(s).get(PACK)
    if sealed is None:
        return None
    key = ctx.cipher.open(sealed, snapshot_key_aad(PACK))
    path = store(ctx).path(PACK)
    return DataCipher(key).open(path.read_bytes(), f"gallery-snapshot:{PACK}".encode())


def template_bytes(ctx: AppContext, subject: str) -> list[bytes]:
    """The plain float32 vectors of one subject's templates."""
    with ctx.db.read() as s:
        rows = s.execute(
            select(Template.id, Template.vector)
            .join(Subject, Subject.id == Template.subject_id)
            .where(Subject.name == subject)
        ).all()
    return [ctx.cipher.open(v, f"template:{i}".encode()) for i, v in rows]


def on_disk(home: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(home.rglob("*")) if p.is_file())


def test_a_restart_loads_the_snapshot_and_opens_only_what_changed(context: AppContext) -> None:
    seed_subject(context, "A")
    seed_subject(context, "BB")
    first, _ = start(context)
    assert first.source == "database" and store(context).path(PACK).is_file()
    WatchlistService(context.db, context.cipher).enroll(
        "wl-A", "late", [face(42), face(43), face(44)], actor="test"
    )
    with context.db.write() as s:  # BB's authorization lapses (no purge: its key stays)
        auth = s.scalars(select(Authorization).where(Authorization.reference == "BB")).one()
        auth.expires_at = utcnow() - timedelta(minutes=1)

    second, cipher = start(context)

    assert second.source == "snapshot"
    assert cipher.opened == 3  # only the templates enrolled since the snapshot
    assert refs(second) == {"A"} and len(second.snapshot().entries) == 5
    probe = face(43).embedding.vector
    hit = second.snapshot().search(probe, "cam", utcnow(), 1)[0]
    assert hit.entry.subject_name == "late" and hit.score == pytest.approx(1.0, abs=1e-5)


def test_a_template_the_database_no_longer_holds_is_dropped_at_load(context: AppContext) -> None:
    """The snapshot is checked id by id against the database, whatever the audit log says (a
    database restored from an older backup, a row deleted by hand)."""
    seed_subject(context, "A")
    start(context)
    with context.db.write() as s:
        s.execute(delete(Template).where(Template.id == s.scalar(select(func.min(Template.id)))))
    restarted, cipher = start(context)
    assert restarted.source == "snapshot" and cipher.opened == 0
    assert len(restarted.snapshot().entries) == 1


def test_a_purge_leaves_no_readable_template_in_any_snapshot(context: AppContext) -> None:
    seed_subject(context, "A")
    seed_subject(context, "BB")
    running, _ = start(context)
    gone, kept = template_bytes(context, "person-BB"), template_bytes(context, "person-A")
    plain = snapshot_plain(context)
    assert plain is not None and all(t in plain for t in gone + kept)  # positive control

    AuthorizationService(context.db).end("BB", AuthorizationStatus.revoked, actor="test")

    assert snapshot_plain(context) is None  # the purge deleted its key: the file is unreadable
    assert not any(t in on_disk(context.settings.home) for t in gone)
    running.sync()  # the running server applies the purge and rewrites its snapshot
    plain = snapshot_plain(context)
    assert plain is not None
    assert not any(t in plain for t in gone)
    assert all(t in plain for t in kept)  # positive control: the same scan sees A
    restarted, cipher = start(context)
    assert restarted.source == "snapshot" and refs(restarted) == {"A"} and cipher.opened == 0


def test_a_purge_while_no_server_runs_means_a_build_at_the_next_start(
    context: AppContext, caplog: pytest.LogCaptureFixture
) -> None:
    seed_subject(context, "A")
    seed_subject(context, "BB")
    start(context)
    with context.db.read() as s:
        subject_id = s.scalars(select(Subject.id).where(Subject.name == "person-BB")).one()
    WatchlistService(context.db, context.cipher).remove_subject(subject_id, actor="test")

    with caplog.at_level(logging.WARNING, logger="vigil.services.gallery_snapshot"):
        restarted, _ = start(context)

    assert restarted.source == "database" and refs(restarted) == {"A"}
    assert "its key is gone" in caplog.text
    plain = snapshot_plain(context)  # saved again after the build, under a new key
    assert plain is not None and all(t in plain for t in template_bytes(context, "person-A"))


@pytest.mark.parametrize("damage", ["flip", "truncate", "other-key"])
def test_a_damaged_snapshot_falls_back_to_a_build(
    context: AppContext, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    seed_subject(context, "A")
    start(context)
    path = store(context).path(PACK)
    blob = bytearray(path.read_bytes())
    if damage == "flip":
        blob[len(blob) // 2] ^= 0xFF
    elif damage == "truncate":
        del blob[len(blob) // 2 :]
    else:  # a snapshot key sealed with a key this deployment does not hold
        with context.db.write() as s:
            stranger = DataCipher(np.random.default_rng(1).bytes(32))
            SnapshotKeyRepo(s).put(PACK, stranger.seal(b"k" * 32, snapshot_key_aad(PACK)))
    path.write_bytes(bytes(blob))

    with caplog.at_level(logging.WARNING, logger="vigil.services.gallery_snapshot"):
        restarted, cipher = start(context)

    assert restarted.source == "database" and refs(restarted) == {"A"} and cipher.opened == 2
    assert "cannot be opened" in caplog.text


def test_a_stale_snapshot_is_not_used(
    context: AppContext, caplog: pytest.LogCaptureFixture
) -> None:
    seed_subject(context, "A")
    start(context)
    with caplog.at_level(logging.WARNING, logger="vigil.services.gallery_snapshot"):
        restarted, _ = start(context, max_age=timedelta(microseconds=1))
    assert restarted.source == "database" and "older than" in caplog.text


def test_a_key_rotation_reseals_the_snapshot_key(context: AppContext) -> None:
    seed_subject(context, "A")
    start(context)
    path = Path(context.key_path)
    old = set(read_keyring(path).ids)
    rotate_key(context.db, path, actor="t", lock=DeploymentLock(context.settings.home))
    assert old & set(read_keyring(path).ids) == set()  # the old key is gone from the ring
    restarted, cipher = start(context, DataCipher.from_file(path))  # a new process
    assert restarted.source == "snapshot" and cipher.opened == 0 and refs(restarted) == {"A"}


def test_the_command_centers_hub_keeps_a_snapshot_unless_turned_off(context: AppContext) -> None:
    hub = GalleryHub(context.db, context.cipher, context.settings)
    assert hub.snapshots is not None and hub.snapshots.folder == context.settings.home / "gallery"
    matching = context.settings.matching.model_copy(update={"gallery_snapshot": False})
    off = context.settings.model_copy(update={"matching": matching})
    assert GalleryHub(context.db, context.cipher, off).snapshots is None
