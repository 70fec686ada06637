"""Watchlists and subjects. Enrollment stores only validated faces, encrypted."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vigil.accountability import audit
from vigil.accountability.crypto import DataCipher
from vigil.accountability.pseudonyms import SubjectRefs
from vigil.db.models import Subject, Template, Watchlist
from vigil.db.session import Database
from vigil.domain.events import AlertEvent
from vigil.errors import InputError
from vigil.repositories.alerts import AlertRepo
from vigil.repositories.authorizations import AuthorizationRepo
from vigil.repositories.watchlists import SubjectRepo, TemplateRepo, WatchlistRepo
from vigil.services.alert_bus import StagedEvents
from vigil.timeutil import utcnow
from vigil.types import ValidatedFace


@dataclass(frozen=True, slots=True)
class WatchlistView:
    id: int
    name: str
    authorization_reference: str
    purpose: str
    subjects: int


@dataclass(frozen=True, slots=True)
class EnrollResult:
    subject_id: int
    subject_name: str
    templates_added: int


class WatchlistService:
    def __init__(self, db: Database, cipher: DataCipher) -> None:
        self.db = db
        self.cipher = cipher

    def create(self, name: str, authorization_reference: str, *, actor: str) -> Watchlist:
        if not name.strip():
            raise InputError("the watchlist name is empty", hint="give the watchlist a name")
        with self.db.write() as s:
            auth = AuthorizationRepo(s).get(authorization_reference)
            wl = WatchlistRepo(s).add(Watchlist(name=name.strip(), authorization_id=auth.id))
            audit.record(
                s,
                actor=actor,
                action="watchlist.create",
                target=wl.name,
                details={"authorization": auth.reference},
            )
            return wl

    def list(self) -> list[WatchlistView]:
        with self.db.read() as s:
            repo = WatchlistRepo(s)
            return [
                WatchlistView(
                    wl.id,
                    wl.name,
                    wl.authorization.reference,
                    wl.authorization.purpose.value,
                    repo.subject_count(wl.id),
                )
                for wl in repo.list()
            ]

    def subjects(self, watchlist: str) -> Sequence[Subject]:
        with self.db.read() as s:
            return SubjectRepo(s).list(WatchlistRepo(s).get(watchlist).id)

    def enroll(
        self, watchlist: str, subject_name: str, faces: Sequence[ValidatedFace], *, actor: str
    ) -> EnrollResult:
        """Add a subject (or templates to an existing one) from validated faces."""
        if not subject_name.strip():
            raise InputError("the subject name is empty", hint="give the person's name")
        if not faces:
            raise InputError(
                "no usable photo to enroll", hint="give at least one photo with one clear face"
            )
        with self.db.write() as s:
            wl = WatchlistRepo(s).get(watchlist)
            subjects = SubjectRepo(s)
            subject = subjects.find(wl.id, subject_name.strip()) or subjects.add(
                Subject(watchlist_id=wl.id, name=subject_name.strip())
            )
            templates = TemplateRepo(s)
            for face in faces:
                tpl = templates.add(
                    Template(
                        subject_id=subject.id,
                        pack=face.embedding.pack,
                        dim=int(face.embedding.vector.shape[0]),
                        vector=b"",
                        quality=face.quality.score,
                        encrypted=True,
                    )
                )
                aad = f"template:{tpl.id}".encode()
                tpl.vector = self.cipher.seal(
                    face.embedding.vector.astype(np.float32).tobytes(), aad
                )
                tpl.photo = self.cipher.seal(face.crop_jpeg, aad + b":photo")
            # Named by its pseudonymous reference; photo file names may name the person.
            audit.record(
                s,
                actor=actor,
                action="subject.enroll",
                target=f"subject:{SubjectRefs(self.cipher).of(s, subject.id)}",
                details={"watchlist": wl.name, "photos": len(faces), "templates": len(faces)},
            )
            return EnrollResult(subject.id, subject.name, len(faces))

    def remove_subject(
        self, subject_id: int, *, actor: str, events: StagedEvents | None = None
    ) -> dict[str, int]:
        """Delete a subject with its templates and alerts; ``events`` (if given) stages a
        'purged' event per alert in the same transaction (deliver them after it)."""
        with self.db.write() as s:
            repo = SubjectRepo(s)
            subject = repo.get(subject_id)
            alert_ids = AlertRepo(s).ids_for_subject(subject.id)
            target = f"subject:{SubjectRefs(self.cipher).of(s, subject.id)}"
            details: dict[str, object] = {"watchlist": subject.watchlist.name}
            counts = repo.delete(subject)  # its key goes with it: the reference is unlinked
            audit.record(
                s, actor=actor, action="subject.delete", target=target, details=details | counts
            )
            staged = events or StagedEvents(None)
            for alert_id in alert_ids:
                staged.add(s, AlertEvent.purged(alert_id, utcnow()))
            return counts
