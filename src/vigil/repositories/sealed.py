"""Rows holding data sealed with the data key: templates (and photos), alert and sighting crops,
subject keys."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vigil.db.models import Alert, AlertSighting, SubjectKey, Template

# A sealed blob starts with MAGIC (4 bytes) then the id of the key that sealed it (8 bytes).
_KEY_ID_START, _KEY_ID_LEN = 5, 8


def sighting_aad(alert_id: int, sighting_id: int) -> bytes:
    """The associated data a sighting's crop is sealed with (binds the blob to its row)."""
    return f"alert:{alert_id}:sighting:{sighting_id}".encode()


class SealedDataRepo:
    """Every row a key rotation must re-seal, in id order (loaded for update in the session)."""

    def __init__(self, session: Session) -> None:
        self.s = session

    def templates(self) -> Iterable[Template]:
        return self.s.scalars(select(Template).order_by(Template.id))

    def alerts_with_crops(self) -> Iterable[Alert]:
        return self.s.scalars(select(Alert).where(Alert.crop.is_not(None)).order_by(Alert.id))

    def templates_after(self, after: int, limit: int) -> Sequence[Template]:
        """The next ``limit`` templates with an id above ``after`` (a keyset page)."""
        query = select(Template).where(Template.id > after).order_by(Template.id).limit(limit)
        return self.s.scalars(query).all()

    def alerts_with_crops_after(self, after: int, limit: int) -> Sequence[Alert]:
        """The next ``limit`` alerts holding a crop with an id above ``after``."""
        query = (
            select(Alert)
            .where(Alert.crop.is_not(None), Alert.id > after)
            .order_by(Alert.id)
            .limit(limit)
        )
        return self.s.scalars(query).all()

    def sightings_with_crops_after(self, after: int, limit: int) -> Sequence[AlertSighting]:
        """The next ``limit`` alert sightings holding a crop with an id above ``after``."""
        query = (
            select(AlertSighting)
            .where(AlertSighting.crop.is_not(None), AlertSighting.id > after)
            .order_by(AlertSighting.id)
            .limit(limit)
        )
        return self.s.scalars(query).all()

    def subject_keys_after(self, after: int, limit: int) -> Sequence[SubjectKey]:
        """The next ``limit`` subject keys (of pseudonymous references) above subject ``after``."""
        query = (
            select(SubjectKey)
            .where(SubjectKey.subject_id > after)
            .order_by(SubjectKey.subject_id)
            .limit(limit)
        )
        return self.s.scalars(query).all()

    def key_ids_in_use(self) -> set[bytes]:
        """The key ids recorded in every sealed blob (templates, photos, alert crops)."""
        return set(self.key_id_counts())

    def key_id_counts(self) -> dict[bytes, int]:
        """How many sealed blobs (template vectors, photos, alert and sighting crops, subject keys)
        each key id sealed."""
        sealed = (
            (Template.vector, Template.encrypted),
            (Template.photo, Template.encrypted),
            (Alert.crop, Alert.crop_encrypted),
            (AlertSighting.crop, AlertSighting.crop_encrypted),
            (SubjectKey.key, SubjectKey.encrypted),
        )
        counts: dict[bytes, int] = {}
        for column, encrypted in sealed:
            kid = func.substr(column, _KEY_ID_START, _KEY_ID_LEN)
            query = (
                select(kid, func.count())
                .where(encrypted.is_(True), column.is_not(None))
                .group_by(kid)
            )
            for key, count in self.s.execute(query):
                if key is not None:
                    counts[bytes(key)] = counts.get(bytes(key), 0) + int(count)
        return counts
