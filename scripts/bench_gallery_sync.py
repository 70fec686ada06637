"""The running gallery against a real database: cold load, an enrollment and a revocation.

    python scripts/bench_gallery_sync.py --templates 100000 [--dim 128] [--json out.json]

Seeds a fresh deployment (temporary VIGIL_HOME) with one authorization, one watchlist and
``templates`` sealed templates (bulk SQL; vectors sealed with the deployment's data key, as
enrollment does), then measures with :class:`vigil.services.gallery.ActiveGallery`: the cold
load from the database (stream, open every sealed vector, build), one enrollment picked up by
``sync()`` (in place), and the revocation of the authorization picked up by ``sync()`` (the
whole partition dropped). Without ``--purge`` the revocation is the status change alone (what
the gallery follows); ``--purge`` revokes through ``AuthorizationService.end``, which also
deletes every subject (at 100,000 subjects that purge ran for over 15 minutes: issue 11 note).
``--snapshot`` keeps the encrypted gallery snapshot as ``vigil serve`` does (the cold load then
includes saving it) and times a restart that loads it and checks its ids against the database.
Prints JSON: wall and CPU seconds of each step, RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
VIGIL = Path(sys.executable).with_name("vigil")


def rss_mb() -> float:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def timed(step) -> tuple[object, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    out = step()
    return out, round(time.perf_counter() - wall, 3), round(time.process_time() - cpu, 3)


def seed(context, templates: int, dim: int) -> None:
    from sqlalchemy import insert

    from vigil.db.models import Subject, Template
    from vigil.services.authorizations import AuthorizationInput, AuthorizationService
    from vigil.services.watchlists import WatchlistService
    from vigil.timeutil import utcnow

    now = utcnow()
    AuthorizationService(context.db).create(
        AuthorizationInput(
            "ORD-1",
            "missing_person",
            "Art 1",
            "Court",
            now + timedelta(days=30),
            valid_from=now - timedelta(days=1),
        ),
        actor="bench",
    )
    watchlist = WatchlistService(context.db, context.cipher).create("wl", "ORD-1", actor="bench")
    rng = np.random.default_rng(0)
    for start in range(0, templates, 10_000):
        ids = range(start + 1, min(start + 10_001, templates + 1))
        vectors = rng.standard_normal((len(ids), dim)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        with context.db.write() as s:
            s.execute(
                insert(Subject),
                [{"id": i, "watchlist_id": watchlist.id, "name": f"s{i}"} for i in ids],
            )
            s.execute(
                insert(Template),
                [
                    {
                        "id": i,
                        "subject_id": i,
                        "pack": "dlib",
                        "dim": dim,
                        "vector": context.cipher.seal(v.tobytes(), f"template:{i}".encode()),
                        "encrypted": True,
                    }
                    for i, v in zip(ids, vectors, strict=True)
                ],
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--templates", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--snapshot",
        action="store_true",
        help="keep the encrypted snapshot (as vigil serve does; the cold load then includes "
        "saving it) and time a restart that loads it",
    )
    parser.add_argument(
        "--purge", action="store_true", help="revoke through AuthorizationService.end (purges)"
    )
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="vigil-gallery-bench-"))
    env = {**os.environ, "VIGIL_HOME": str(home)}
    try:
        subprocess.run(
            [str(VIGIL), "init", "--plain-http"], env=env, check=True, capture_output=True
        )
        from sqlalchemy import update

        from vigil.config import load_settings
        from vigil.context import build_context
        from vigil.db.models import Authorization
        from vigil.domain.enums import AuthorizationStatus
        from vigil.services.authorizations import AuthorizationService
        from vigil.services.gallery import ActiveGallery
        from vigil.services.gallery_snapshot import GallerySnapshotStore
        from vigil.services.watchlists import WatchlistService
        from vigil.types import Embedding, Quality, ValidatedFace

        context = build_context(load_settings(env))
        _, seed_wall, _ = timed(lambda: seed(context, args.templates, args.dim))
        store = (
            GallerySnapshotStore(context.settings.home, context.db, context.cipher)
            if args.snapshot
            else None
        )
        gallery = ActiveGallery(
            context.db, context.cipher, context.settings, "dlib", snapshots=store
        )
        rss0 = rss_mb()
        snap, load_wall, load_cpu = timed(gallery.refresh)
        loaded = snap.size  # type: ignore[attr-defined]
        rss_loaded = rss_mb()
        restart: dict[str, object] = {}
        if store is not None:
            again = ActiveGallery(
                context.db, context.cipher, context.settings, "dlib", snapshots=store
            )
            _, restart_wall, restart_cpu = timed(again.refresh)
            restart = {
                "snapshot_mb": round(store.path("dlib").stat().st_size / 2**20, 1),
                "restart_seconds": restart_wall,
                "restart_cpu_seconds": restart_cpu,
                "restart_source": again.source,
                "restart_loaded": again.snapshot().size,
            }
            del again
        vector = np.ones(args.dim, np.float32)
        face = ValidatedFace(Embedding.normalised(vector, "dlib"), Quality(1, 1, 1, 1), b"j", "p")
        WatchlistService(context.db, context.cipher).enroll("wl", "late", [face], actor="bench")
        enroll, enroll_wall, enroll_cpu = timed(gallery.sync)
        print(
            f"cold load {load_wall} s ({load_cpu} s CPU), enrollment sync {enroll_wall} s",
            file=sys.stderr,
            flush=True,
        )
        if args.purge:  # the service's own revocation: status flip plus purge of every subject
            AuthorizationService(context.db).end(
                "ORD-1", AuthorizationStatus.revoked, actor="bench"
            )
        else:  # only the status flip the gallery follows (the purge is the service's cost)
            with context.db.write() as s:
                s.execute(
                    update(Authorization)
                    .where(Authorization.reference == "ORD-1")
                    .values(status=AuthorizationStatus.revoked)
                )
        revoke, revoke_wall, revoke_cpu = timed(gallery.sync)
        figures = {
            "templates": args.templates,
            "dim": args.dim,
            "seed_seconds": seed_wall,
            "cold_load_seconds": load_wall,
            "cold_load_cpu_seconds": load_cpu,
            "loaded": loaded,
            "rss_gallery_mb": round(rss_loaded - rss0, 1),
            "enrollment_sync_seconds": enroll_wall,
            "enrollment_sync_cpu_seconds": enroll_cpu,
            "enrollment_added": enroll.added,  # type: ignore[attr-defined]
            "revocation_sync_seconds": revoke_wall,
            "revocation_sync_cpu_seconds": revoke_cpu,
            "revocation_removed": revoke.removed,  # type: ignore[attr-defined]
            "left_after_revocation": gallery.snapshot().size,
            **restart,
            "load_average": [round(x, 2) for x in os.getloadavg()],
        }
        print(json.dumps(figures))
        if args.json:
            args.json.write_text(json.dumps(figures))
        context.close()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
