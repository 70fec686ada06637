"""The public shape of an alert (:class:`~vigil.domain.events.AlertPublic`) built from its rows:
names resolved, sightings ordered (the headline first) and overlapping ones flagged, reviews in
order. What reviewers, the API, the WebSocket feed, outbound delivery and the relay all see."""

from __future__ import annotations

from sqlalchemy.orm import Session

from vigil.db.models import Review
from vigil.domain.events import AlertPublic, ReviewPublic, SightingPublic
from vigil.repositories.alerts import AlertRecord, AlertRepo, SightingRecord


def public_sightings(record: AlertRecord) -> tuple[SightingPublic, ...]:
    """The alert's sightings, best score first and rejected ones last (so the first is the
    headline: the best sighting not rejected); overlapping ones are flagged as conflicting."""
    rows = record.sightings

    def overlaps(row: SightingRecord) -> bool:
        return any(
            other.id != row.id
            and other.first_seen <= row.last_seen
            and row.first_seen <= other.last_seen
            for other in rows
        )

    return tuple(
        SightingPublic(
            id=row.id,
            ordinal=row.ordinal,
            score=row.score,
            seen_at=row.seen_at,
            first_seen=row.first_seen,
            last_seen=row.last_seen,
            conflicting=row.conflicting or overlaps(row),
            has_crop=row.has_crop,
            crop_url=f"/api/alerts/{record.alert.id}/sightings/{row.id}/crop",
            rejected=row.rejected_at is not None,
            rejected_by=row.rejected_by,
            rejected_at=row.rejected_at,
            rejection_reason=row.rejection_reason,
        )
        for row in sorted(rows, key=lambda r: (r.rejected_at is not None, -r.score, r.ordinal))
    )


def public_review(review: Review) -> ReviewPublic:
    return ReviewPublic(
        username=review.username,
        decision=review.decision,  # type: ignore[arg-type]
        reason=review.reason,
        created_at=review.created_at,
        sightings=tuple(review.sightings or ()),
        superseded=review.superseded_at is not None,
    )


def public_alert(record: AlertRecord) -> AlertPublic:
    """The public shape of one alert row with its names resolved."""
    alert = record.alert
    reviews = tuple(public_review(r) for r in sorted(alert.reviews, key=lambda r: r.id))
    sightings = public_sightings(record)
    return AlertPublic(
        id=alert.id,
        camera=alert.camera,
        subject_id=alert.subject_id,
        subject_name=record.subject_name,
        watchlist=record.watchlist,
        authorization_reference=record.authorization_reference,
        purpose=record.purpose,
        score=alert.score,
        threshold=alert.threshold,
        pack=alert.pack,
        status=alert.status,
        first_seen=alert.first_seen,
        last_seen=alert.last_seen,
        created_at=alert.created_at,
        decided_at=alert.decided_at,
        latency_ms=alert.latency_ms,
        has_crop=record.has_crop,
        reviews=reviews,
        confirmations=sum(r.decision == "confirm" and not r.superseded for r in reviews),
        sightings=sightings,
        conflicting_sightings=any(x.conflicting for x in sightings),
    )


def load_public(s: Session, alert_id: int) -> AlertPublic:
    """The alert as it stands in this session (pending changes flushed first)."""
    s.flush()
    return public_alert(AlertRepo(s).record(alert_id))
