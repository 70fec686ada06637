"""Cameras managed from the command center (the ``cameras`` table), each change audited.

Camera URLs may carry passwords (``rtsp://user:pass@host/...``); they are stored as given (the
worker needs them) but every audit record and public view shows them redacted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import ValidationError
from sqlalchemy.orm import Session

from vigil.accountability import audit
from vigil.config import CameraConfig
from vigil.db.models import Camera
from vigil.db.session import Database
from vigil.domain.camera_groups import CAMERA_GROUP_HINT, DEFAULT_CAMERA_GROUP
from vigil.errors import Conflict, InputError, NotFound
from vigil.repositories.cameras import CameraRepo
from vigil.sources.capture import redact_url


@dataclass(frozen=True, slots=True)
class CameraInput:
    name: str
    url: str
    max_fps: float = 5.0
    enabled: bool = True
    group: str = DEFAULT_CAMERA_GROUP

    def validated(self) -> CameraConfig:
        try:
            return CameraConfig(
                name=self.name,
                url=self.url,
                max_fps=self.max_fps,
                enabled=self.enabled,
                group=self.group,
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            hint = (
                CAMERA_GROUP_HINT
                if field == "group"
                else "names use letters, digits, '.', '_', '-'"
            )
            raise InputError(f"camera {field}: {first['msg']}", hint=hint) from exc


def to_config(camera: Camera) -> CameraConfig:
    return CameraConfig(
        name=camera.name,
        url=camera.url,
        max_fps=camera.max_fps,
        enabled=camera.enabled,
        group=camera.camera_group,
    )


def _get(s: Session, camera_id: int) -> Camera:
    found = CameraRepo(s).get(camera_id)
    if found is None:
        raise NotFound(f"no camera with id {camera_id}", hint="see GET /api/cameras")
    return found


def _check_unique(s: Session, name: str, camera_id: int | None = None) -> None:
    other = CameraRepo(s).id_by_name(name)
    if other is not None and other != camera_id:
        raise Conflict(f"camera {name!r} already exists", hint="choose another name")


class CameraService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def list(self) -> Sequence[Camera]:
        with self.db.read() as s:
            return CameraRepo(s).all()

    def get(self, camera_id: int) -> Camera:
        with self.db.read() as s:
            return _get(s, camera_id)

    def add(self, data: CameraInput, *, actor: str) -> Camera:
        cfg = data.validated()
        with self.db.write() as s:
            _check_unique(s, cfg.name)
            camera = CameraRepo(s).add(
                name=cfg.name,
                url=cfg.url,
                max_fps=cfg.max_fps,
                enabled=cfg.enabled,
                group=cfg.group,
            )
            audit.record(
                s,
                actor=actor,
                action="camera.add",
                target=cfg.name,
                details={
                    "url": redact_url(cfg.url),
                    "max_fps": cfg.max_fps,
                    "enabled": cfg.enabled,
                    "group": cfg.group,
                },
            )
            return camera

    def update(
        self,
        camera_id: int,
        *,
        actor: str,
        name: str | None = None,
        url: str | None = None,
        max_fps: float | None = None,
        enabled: bool | None = None,
        group: str | None = None,
    ) -> tuple[Camera, CameraConfig]:
        """Change a camera; returns it with its previous configuration (to restart a worker)."""
        with self.db.write() as s:
            camera = _get(s, camera_id)
            before = to_config(camera)
            cfg = CameraInput(
                name=before.name if name is None else name,
                url=before.url if url is None else url,
                max_fps=before.max_fps if max_fps is None else max_fps,
                enabled=before.enabled if enabled is None else enabled,
                group=before.group if group is None else group,
            ).validated()
            _check_unique(s, cfg.name, camera.id)
            changes = {
                key: [
                    redact_url(str(old)) if key == "url" else old,
                    redact_url(str(new)) if key == "url" else new,
                ]
                for key, old, new in (
                    ("name", before.name, cfg.name),
                    ("url", before.url, cfg.url),
                    ("max_fps", before.max_fps, cfg.max_fps),
                    ("enabled", before.enabled, cfg.enabled),
                    ("group", before.group, cfg.group),
                )
                if old != new
            }
            camera.name, camera.url, camera.max_fps, camera.enabled = (
                cfg.name,
                cfg.url,
                cfg.max_fps,
                cfg.enabled,
            )
            camera.camera_group = cfg.group
            if changes:
                audit.record(
                    s, actor=actor, action="camera.update", target=before.name, details=changes
                )
            return camera, before

    def remove(self, camera_id: int, *, actor: str) -> Camera:
        with self.db.write() as s:
            camera = _get(s, camera_id)
            CameraRepo(s).delete(camera)
            audit.record(
                s,
                actor=actor,
                action="camera.remove",
                target=camera.name,
                details={"url": redact_url(camera.url)},
            )
            return camera

    def record_url_test(self, masked_url: str, *, ok: bool, actor: str) -> None:
        """Audit a connection test of a URL not saved yet (credentials already masked)."""
        with self.db.write() as s:
            audit.record(
                s, actor=actor, action="camera.test", target=masked_url, details={"ok": ok}
            )

    def record(
        self, camera: Camera, action: str, *, actor: str, details: dict[str, object] | None = None
    ) -> None:
        """Audit a user's action on a camera (start, stop, connection test)."""
        with self.db.write() as s:
            audit.record(s, actor=actor, action=action, target=camera.name, details=details or {})
