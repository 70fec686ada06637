"""Watchlists and subjects as the command center manages them: one method per action.

The rules live here, not in the routes: a subject is enrolled only under a watchlist whose
authorization is active and unexpired; every uploaded photo gets its own verdict (accepted with its
quality, or refused with a stable reason), and when none can be used nothing is stored and
:class:`NothingEnrolled` (HTTP 422) carries the verdicts.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from vigil.accountability.crypto import DataCipher
from vigil.db.session import Database
from vigil.domain.enums import AuthorizationStatus
from vigil.errors import Conflict, EnrollmentRejected, InputError
from vigil.repositories.watchlists import SubjectRepo, WatchlistRepo
from vigil.services.alert_bus import AlertBus, StagedEvents
from vigil.services.watchlists import WatchlistService, WatchlistView
from vigil.timeutil import utcnow
from vigil.types import ValidatedFace

MAX_PHOTOS_PER_UPLOAD = 10
PhotoValidator = Callable[[bytes, str], ValidatedFace]


@dataclass(frozen=True, slots=True)
class PhotoUpload:
    """One uploaded file as received (``data`` may be cut at max_image_bytes + 1)."""

    name: str
    content_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class PhotoOutcome:
    photo: str
    accepted: bool
    quality: float | None = None
    reason: str | None = None
    message: str | None = None


@dataclass(frozen=True, slots=True)
class SubjectView:
    id: int
    watchlist_id: int
    name: str
    templates: int
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Enrolled:
    subject: SubjectView
    photos: tuple[PhotoOutcome, ...]

    @property
    def accepted(self) -> int:
        return sum(p.accepted for p in self.photos)

    @property
    def rejected(self) -> int:
        return len(self.photos) - self.accepted


class NothingEnrolled(InputError):
    """No uploaded photo could be used; ``outcomes`` says why for each one."""

    http_status = 422

    def __init__(self, outcomes: Sequence[PhotoOutcome]) -> None:
        self.outcomes = tuple(outcomes)
        reasons = "; ".join(o.message or o.photo for o in self.outcomes)
        super().__init__(f"no photo could be enrolled: {reasons}")


class WatchlistDesk:
    def __init__(
        self,
        db: Database,
        cipher: DataCipher,
        validate: PhotoValidator,
        *,
        max_image_bytes: int,
        bus: AlertBus | None = None,
    ) -> None:
        self.db = db
        self.bus = bus  # announces a 'purged' event per alert deleted with a subject
        self.service = WatchlistService(db, cipher)
        self.validate = validate
        self.max_image_bytes = max_image_bytes

    def list(self) -> list[WatchlistView]:
        return self.service.list()

    def create(self, name: str, authorization_reference: str, *, actor: str) -> WatchlistView:
        wl = self.service.create(name, authorization_reference, actor=actor)
        return next(v for v in self.service.list() if v.id == wl.id)

    def subjects(self, watchlist_id: int) -> builtins.list[SubjectView]:
        with self.db.read() as s:
            WatchlistRepo(s).get_by_id(watchlist_id)
            return [
                SubjectView(x.id, x.watchlist_id, x.name, len(x.templates), x.created_at)
                for x in SubjectRepo(s).list(watchlist_id)
            ]

    def enroll(
        self, watchlist_id: int, name: str, photos: Sequence[PhotoUpload], *, actor: str
    ) -> Enrolled:
        """Enroll a subject from photos: each judged on its own; at least one must be usable."""
        if len(photos) > MAX_PHOTOS_PER_UPLOAD:
            raise InputError(
                f"{len(photos)} photos sent; at most {MAX_PHOTOS_PER_UPLOAD} per upload",
                hint="enroll the rest in a second upload",
            )
        watchlist = self._enrollable(watchlist_id)
        faces, outcomes = self._judge(photos)
        if not faces:
            raise NothingEnrolled(outcomes)
        result = self.service.enroll(watchlist, name, faces, actor=actor)
        subject = next(x for x in self.subjects(watchlist_id) if x.id == result.subject_id)
        return Enrolled(subject, tuple(outcomes))

    def remove_subject(self, subject_id: int, *, actor: str) -> dict[str, int]:
        """Delete a subject with its templates and alerts; the alerts are announced as purged
        (staged in the deletion's transaction, delivered locally after it)."""
        events = StagedEvents(self.bus)
        counts = self.service.remove_subject(subject_id, actor=actor, events=events)
        events.deliver()
        return counts

    def _enrollable(self, watchlist_id: int) -> str:
        """The watchlist's name, if its authorization is active and unexpired (else nobody may
        be added)."""
        with self.db.read() as s:
            wl = WatchlistRepo(s).get_by_id(watchlist_id)
            auth = wl.authorization
            if auth.status is not AuthorizationStatus.active or auth.expires_at <= utcnow():
                word = (
                    auth.status.value
                    if auth.status is not AuthorizationStatus.active
                    else "expired"
                )
                raise Conflict(
                    f"watchlist {wl.name!r} is under authorization {auth.reference!r}, "
                    f"which is {word}",
                    hint="enroll only under an active authorization",
                )
            return wl.name

    def _judge(
        self, photos: Sequence[PhotoUpload]
    ) -> tuple[builtins.list[ValidatedFace], builtins.list[PhotoOutcome]]:
        faces: builtins.list[ValidatedFace] = []
        outcomes: builtins.list[PhotoOutcome] = []
        for photo in photos:
            try:
                face = self.validate(self._checked(photo), photo.name)
            except EnrollmentRejected as exc:
                outcomes.append(
                    PhotoOutcome(exc.photo or photo.name, False, None, exc.reason, str(exc))
                )
                continue
            faces.append(face)
            outcomes.append(PhotoOutcome(photo.name, True, round(face.quality.score, 3)))
        return faces, outcomes

    def _checked(self, photo: PhotoUpload) -> bytes:
        ctype = photo.content_type.lower()
        if not ctype.startswith("image/"):
            raise EnrollmentRejected(
                "not_an_image",
                f"it was sent as {ctype or 'no content type'!r}, not an image; "
                "upload a JPEG or PNG photo.",
                photo=photo.name,
            )
        if len(photo.data) > self.max_image_bytes:
            raise EnrollmentRejected(
                "too_large",
                f"the file is larger than {self.max_image_bytes:,} bytes (max_image_bytes); "
                "upload a smaller photo.",
                photo=photo.name,
            )
        return photo.data
