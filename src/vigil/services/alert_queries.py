"""The read side of alerts for reviewers: :class:`AlertQueries` gives alerts in their public shape,
the list's pages serialized (kept by an :class:`~vigil.services.alert_cache.AlertPageCache` when
the app gives one) and the face images, decrypted, each viewing audited."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.orm import Session

from vigil.accountability import audit
from vigil.accountability.crypto import DataCipher
from vigil.accountability.pseudonyms import SubjectRefs
from vigil.db.models import Template
from vigil.db.session import Database
from vigil.domain.enums import AlertStatus
from vigil.domain.events import AlertPublic
from vigil.errors import NotFound
from vigil.repositories.alerts import AlertFilter, AlertRepo
from vigil.repositories.sealed import sighting_aad
from vigil.repositories.watchlists import SubjectRepo, TemplateRepo
from vigil.services.alert_cache import AlertPage, AlertPageCache, PageQuery, PageSerializer
from vigil.services.alert_public import public_alert


class AlertQueries:
    """Read side for reviewers: alerts in their public shape and the (decrypted, audited) images.

    ``pages`` (optional) keeps serialized list pages; whoever passes one must subscribe its
    ``on_event`` to the AlertBus, or the pages would never go stale (see vigil.web.app).
    """

    def __init__(
        self, db: Database, cipher: DataCipher, *, pages: AlertPageCache | None = None
    ) -> None:
        self.db = db
        self.cipher = cipher
        self.pages = pages
        self._serializer = PageSerializer()

    def list(
        self,
        *,
        status: AlertStatus | None = None,
        camera: str | None = None,
        limit: int = 50,
        before_id: int | None = None,
    ) -> list[AlertPublic]:
        f = AlertFilter(camera=camera, status=status, limit=limit, before_id=before_id)
        with self.db.read() as s:
            return [public_alert(r) for r in AlertRepo(s).records(f)]

    def cached_page(self, query: PageQuery) -> AlertPage | None:
        """The kept page for ``query``, or None; never touches the database (safe on the event
        loop)."""
        return self.pages.cached(query) if self.pages is not None else None

    def page(self, query: PageQuery) -> AlertPage:
        """One page of the list as JSON bytes with its ETag (from the cache when there is one)."""

        def load() -> list[AlertPublic]:
            return self.list(
                status=query.status,
                camera=query.camera,
                limit=query.limit,
                before_id=query.before_id,
            )

        if self.pages is None:
            return self._serializer.serialize(query, load())
        return self.pages.page(query, load)

    def get(self, alert_id: int) -> AlertPublic:
        with self.db.read() as s:
            return public_alert(AlertRepo(s).record(alert_id))

    def awaiting(self, username: str) -> int:
        """How many alerts wait for ``username``'s review (the sidebar badge)."""
        with self.db.read() as s:
            return AlertRepo(s).count_awaiting(username)

    def crop(self, alert_id: int, *, viewer: str) -> bytes:
        """The probe face crop (bystanders masked), decrypted; the viewing is audited."""
        with self.db.write() as s:
            alert = AlertRepo(s).get(alert_id)
            if alert.crop is None:
                raise NotFound(f"alert {alert_id} has no face crop (removed by retention)")
            data = (
                self.cipher.open(alert.crop, f"alert:{alert.id}".encode())
                if alert.crop_encrypted
                else alert.crop
            )
            _audit_view(s, viewer, f"alert:{alert_id}", {"what": "alert crop"})
            return data

    def sighting_crop(self, alert_id: int, sighting_id: int, *, viewer: str) -> bytes:
        """One sighting's probe crop (bystanders masked), decrypted; the viewing is audited."""
        with self.db.write() as s:
            row = AlertRepo(s).get_sighting(alert_id, sighting_id)
            if row.crop is None:
                raise NotFound(
                    f"sighting {sighting_id} of alert {alert_id} has no face crop "
                    "(removed by retention)"
                )
            data = (
                self.cipher.open(row.crop, sighting_aad(alert_id, row.id))
                if row.crop_encrypted
                else row.crop
            )
            details = {"what": "sighting crop", "sighting": row.id, "ordinal": row.ordinal}
            _audit_view(s, viewer, f"alert:{alert_id}", details)
            return data

    def enrolled_photo(self, alert_id: int, *, viewer: str) -> bytes:
        """The enrolled photo of the template that matched, decrypted; the viewing is audited."""
        with self.db.write() as s:
            tpl = AlertRepo(s).matched_template(AlertRepo(s).get(alert_id))
            data = _open_photo(self.cipher, tpl, f"alert {alert_id}")
            details = {"what": "enrolled photo", "template_id": tpl.id if tpl else None}
            _audit_view(s, viewer, f"alert:{alert_id}", details)
            return data

    def subject_photo(self, subject_id: int, *, viewer: str) -> bytes:
        with self.db.write() as s:
            subject = SubjectRepo(s).get(subject_id)
            data = _open_photo(
                self.cipher, TemplateRepo(s).first_for_subject(subject.id), f"subject {subject_id}"
            )
            ref = SubjectRefs(self.cipher).of(s, subject.id)
            _audit_view(s, viewer, f"subject:{ref}", {"what": "enrolled photo"})
            return data


def _audit_view(s: Session, viewer: str, target: str, details: Mapping[str, object]) -> None:
    audit.record(s, actor=viewer, action="biometric.view", target=target, details=dict(details))


def _open_photo(cipher: DataCipher, tpl: Template | None, label: str) -> bytes:
    if tpl is None or tpl.photo is None:
        raise NotFound(f"{label} has no enrolled photo")
    aad = f"template:{tpl.id}:photo".encode()
    return cipher.open(tpl.photo, aad) if tpl.encrypted else tpl.photo
