"""Cameras managed from the command center (the ``cameras`` table)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil.db.models import Camera


class CameraRepo:
    """Lookups and changes of camera rows."""

    def __init__(self, session: Session) -> None:
        self.s = session

    def all(self) -> Sequence[Camera]:
        return self.s.scalars(select(Camera).order_by(Camera.id)).all()

    def get(self, camera_id: int) -> Camera | None:
        return self.s.get(Camera, camera_id)

    def id_by_name(self, name: str) -> int | None:
        return self.s.scalar(select(Camera.id).where(Camera.name == name))

    def add(self, *, name: str, url: str, max_fps: float, enabled: bool, group: str) -> Camera:
        camera = Camera(name=name, url=url, max_fps=max_fps, enabled=enabled, camera_group=group)
        self.s.add(camera)
        self.s.flush()
        return camera

    def groups(self) -> dict[str, str]:
        """Each camera's group, by camera name."""
        return {
            name: group for name, group in self.s.execute(select(Camera.name, Camera.camera_group))
        }

    def delete(self, camera: Camera) -> None:
        self.s.delete(camera)
