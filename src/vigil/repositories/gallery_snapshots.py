"""The keys of the encrypted gallery snapshots (``settings`` rows, one per pack).

A gallery snapshot (:mod:`vigil.services.gallery_snapshot`) is sealed with a random key of its
own, kept here sealed with the deployment's data key. Deleting the row makes the snapshot file
unreadable: every purge of templates (:class:`~vigil.repositories.watchlists.SubjectRepo`)
deletes these rows in its own transaction, so no purged template stays readable in a snapshot
even when no server runs to rewrite it. Key rotation re-seals the rows.
"""

from __future__ import annotations

import base64

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from vigil.db.models import Setting
from vigil.timeutil import utcnow

PREFIX = "gallery.snapshot_key."


def snapshot_key_aad(pack: str) -> bytes:
    """What binds a sealed snapshot key to its pack."""
    return f"gallery-snapshot-key:{pack}".encode()


class SnapshotKeyRepo:
    def __init__(self, session: Session) -> None:
        self.s = session

    def get(self, pack: str) -> bytes | None:
        """The sealed key of ``pack``'s snapshot, or None when there is none (or it was purged)."""
        row = self.s.get(Setting, PREFIX + pack)
        return base64.b64decode(row.value) if row is not None else None

    def put(self, pack: str, sealed: bytes) -> None:
        value = base64.b64encode(sealed).decode()
        row = self.s.get(Setting, PREFIX + pack)
        if row is None:
            self.s.add(Setting(key=PREFIX + pack, value=value, updated_at=utcnow()))
        else:
            row.value, row.updated_at = value, utcnow()
        self.s.flush()

    def delete(self, pack: str) -> None:
        row = self.s.get(Setting, PREFIX + pack)
        if row is not None:
            self.s.delete(row)
            self.s.flush()

    def delete_all(self) -> int:
        """Forget every snapshot key (a purge): their snapshot files can no longer be opened."""
        found = self.s.scalars(select(Setting.key).where(Setting.key.startswith(PREFIX))).all()
        if found:
            self.s.execute(
                delete(Setting)
                .where(Setting.key.in_(found))
                .execution_options(synchronize_session=False)
            )
        return len(found)

    def rows(self) -> list[tuple[str, bytes]]:
        """(pack, sealed key) of every snapshot key (for key rotation)."""
        rows = self.s.scalars(select(Setting).where(Setting.key.startswith(PREFIX))).all()
        return [(r.key[len(PREFIX) :], base64.b64decode(r.value)) for r in rows]
