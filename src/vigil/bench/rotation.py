"""How long `vigil keys rotate` takes, offline and with a server writing meanwhile.

Figures only, never asserted in tests::

    python -m vigil.bench.rotation [--templates 10000] [--photo-bytes 10000] [--interval 0.05]

In a temporary deployment (SQLite, key file) it enrolls N templates (random 128-d vectors, a
random ``--photo-bytes`` photo each, 100 per subject), then:

- ``offline``: times :func:`rotate_key` with the deployment lock (no server);
- ``online``: a "server" context (the one a running ``vigil serve`` holds, built before the
  rotation, its cipher following the keyring file) enrolls one template every ``--interval``
  seconds on a thread while :func:`rotate_key` runs with ``online=True``; reports the rotation
  time, the server's enrollments (from just before to just after it) and their slowest write,
  then reloads the server's gallery, restarts the context and opens every stored blob
  (``unreadable_after`` must be 0).

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import select

from vigil.accountability.deployment_lock import DeploymentLock
from vigil.accountability.rotation import RotationResult, rotate_key
from vigil.config import Settings, load_settings
from vigil.context import AppContext, build_context
from vigil.db.models import Template
from vigil.errors import IntegrityError
from vigil.services.authorizations import AuthorizationInput, AuthorizationService
from vigil.services.gallery import ActiveGallery
from vigil.services.watchlists import WatchlistService
from vigil.timeutil import utcnow
from vigil.types import Embedding, Quality, ValidatedFace

PER_SUBJECT = 100


@dataclass(frozen=True, slots=True)
class RotationRun:
    mode: str
    templates: int
    seconds: float
    templates_per_second: float
    retired_key_ids: tuple[str, ...]
    server_enrollments: int = 0
    server_slowest_write_s: float = 0.0


@dataclass(frozen=True, slots=True)
class RotationFigures:
    templates: int
    photo_bytes: int
    setup_seconds: float
    runs: tuple[RotationRun, ...]
    unreadable_after: int
    gallery_loaded_after: int
    db_mb: float


def _faces(rng: np.random.Generator, count: int, photo_bytes: int) -> list[ValidatedFace]:
    return [
        ValidatedFace(
            Embedding.normalised(rng.normal(size=128), "dlib"),
            Quality(1, 1, 1, 1),
            b"\xff\xd8\xff" + rng.bytes(photo_bytes),
            "bench.jpg",
        )
        for _ in range(count)
    ]


def _setup(ctx: AppContext, templates: int, photo_bytes: int) -> None:
    AuthorizationService(ctx.db).create(
        AuthorizationInput("BENCH-1", "missing_person", "bench", "Court", utcnow() + timedelta(30)),
        actor="bench",
    )
    service = WatchlistService(ctx.db, ctx.cipher)
    service.create("bench", "BENCH-1", actor="bench")
    rng = np.random.default_rng(0)
    for start in range(0, templates, PER_SUBJECT):
        count = min(PER_SUBJECT, templates - start)
        service.enroll("bench", f"s{start}", _faces(rng, count, photo_bytes), actor="bench")


class _ServerWriter:
    """Enrolls one template every ``interval`` seconds through the server's context."""

    def __init__(self, ctx: AppContext, interval: float, photo_bytes: int) -> None:
        self.ctx, self.interval, self.photo_bytes = ctx, interval, photo_bytes
        self.count = 0
        self.slowest = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-server-writer", daemon=True)

    def __enter__(self) -> _ServerWriter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(60)

    def _run(self) -> None:
        rng = np.random.default_rng(1)
        service = WatchlistService(self.ctx.db, self.ctx.cipher)
        while not self._stop.wait(self.interval):
            began = time.perf_counter()
            service.enroll("bench", "online", _faces(rng, 1, self.photo_bytes), actor="bench")
            self.slowest = max(self.slowest, time.perf_counter() - began)
            self.count += 1


def _timed(settings: Settings, *, online: bool) -> tuple[RotationResult, float]:
    """One rotation through its own context (its own engine), as `vigil keys rotate` runs."""
    ctx = build_context(settings, create=False)
    try:
        began = time.perf_counter()
        result = rotate_key(
            ctx.db,
            Path(ctx.key_path),
            actor="bench",
            lock=DeploymentLock(ctx.settings.home),
            online=online,
        )
        return result, time.perf_counter() - began
    finally:
        ctx.close()


def _run(
    mode: str, result: RotationResult, seconds: float, writer: _ServerWriter | None
) -> RotationRun:
    return RotationRun(
        mode=mode,
        templates=result.templates,
        seconds=round(seconds, 3),
        templates_per_second=round(result.templates / seconds, 1) if seconds else 0.0,
        retired_key_ids=result.retired_key_ids,
        server_enrollments=writer.count if writer else 0,
        server_slowest_write_s=round(writer.slowest, 3) if writer else 0.0,
    )


def _unreadable(ctx: AppContext) -> int:
    bad = 0
    with ctx.db.read() as s:
        for tpl in s.scalars(select(Template)):
            aad = f"template:{tpl.id}".encode()
            for blob, label in ((tpl.vector, aad), (tpl.photo, aad + b":photo")):
                try:
                    if blob is not None:
                        ctx.cipher.open(blob, label)
                except IntegrityError:  # counted: that is the figure
                    bad += 1
    return bad


def measure(templates: int, photo_bytes: int, interval: float, home: Path) -> RotationFigures:
    settings = load_settings(
        {"VIGIL_HOME": str(home)}, server={"secret_key": secrets.token_urlsafe(48)}
    )
    server = build_context(settings)
    try:
        began = time.perf_counter()
        _setup(server, templates, photo_bytes)
        setup_seconds = time.perf_counter() - began
        offline, offline_s = _timed(settings, online=False)
        with _ServerWriter(server, interval, photo_bytes) as writer:
            time.sleep(interval * 3)  # the server is writing before the rotation starts
            online, online_s = _timed(settings, online=True)
            time.sleep(interval * 3)  # and after it
        gallery = ActiveGallery(server.db, server.cipher, settings, "dlib")
        loaded = len(gallery.refresh().entries)
    finally:
        server.close()
    restarted = build_context(settings, create=False)
    try:
        unreadable = _unreadable(restarted)
    finally:
        restarted.close()
    return RotationFigures(
        templates=templates,
        photo_bytes=photo_bytes,
        setup_seconds=round(setup_seconds, 2),
        runs=(_run("offline", offline, offline_s, None), _run("online", online, online_s, writer)),
        unreadable_after=unreadable,
        gallery_loaded_after=loaded,
        db_mb=round((home / "vigil.db").stat().st_size / 2**20, 1),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m vigil.bench.rotation")
    parser.add_argument("--templates", type=int, default=10_000)
    parser.add_argument("--photo-bytes", type=int, default=10_000)
    parser.add_argument("--interval", type=float, default=0.05, help="server enroll period (s)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="vigil-bench-rotation-") as tmp:
        figures = measure(args.templates, args.photo_bytes, args.interval, Path(tmp) / "home")
    print(json.dumps({"cpus": os.cpu_count(), **asdict(figures)}, indent=2))


if __name__ == "__main__":
    main()
