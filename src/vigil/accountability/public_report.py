"""The public transparency page: monthly aggregates, small counts hidden, signed with Ed25519.

What it publishes (issue 14 part 3), per calendar month (UTC) and camera group:
faces processed; candidate, confirmed and rejected alerts; authorizations in force by purpose
and issuing authority; watchlist sizes by purpose; the threshold in force and its measured
false-positive rate; maintenance-access hours; retention deletions. Never a name, a reference
number, a subject id, a username, a watchlist name or an image.

Camera groups: cameras have no group or site field yet, so there is one group, "all cameras"
(:data:`ALL_CAMERAS`); the document already lists groups so that real groups can be added
without changing its shape.

Small counts: a count of 1 to 4 is published as the string ``"< 5"`` (:func:`suppress`), so no
single person's case can be read; 0 stays 0, because "nothing happened" reveals no case and a
page of "< 5" where nothing happened would mislead. Hours, thresholds and rates are not counts
of people and are published as measured.

The signed document (``/public/transparency.json``) is
``{"payload": {...}, "signature": B64, "algorithm": "Ed25519", "key_id": HEX16,
"public_key": B64, "canonical": "..."}``; the signature covers :func:`canonical` of the payload
(JSON, keys sorted, no whitespace, UTF-8). :func:`verify_document` checks it against a public
key the reader obtained separately (``vigil keys public``), never against the key the document
names.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from vigil.accountability.report import overlap_hours
from vigil.accountability.signing import PublicVerifier, Signer
from vigil.accountability.threshold import current_threshold
from vigil.config import Settings
from vigil.db.session import Database
from vigil.domain.enums import AlertStatus, Purpose
from vigil.errors import IntegrityError
from vigil.repositories.report import PublicReportRepo

ALL_CAMERAS = "all cameras"
SMALL = 5  # counts below this (and above 0) are published as "< 5"
HIDDEN = "< 5"
DEFAULT_MONTHS = 12
CANONICAL = "json: keys sorted, separators (',', ':'), UTF-8, ensure_ascii false"
FORMAT = "vigil-public-transparency/1"

Count = int | str  # an int, or HIDDEN


def suppress(n: int) -> Count:
    """0 stays 0; 1-4 become "< 5"; 5 and more are published as they are."""
    return HIDDEN if 0 < n < SMALL else n


def month_starts(end: datetime, months: int) -> list[datetime]:
    """The first instants of the ``months`` calendar months up to and including ``end``'s."""
    year, month = end.year, end.month
    starts = []
    for _ in range(months):
        starts.append(datetime(year, month, 1, tzinfo=UTC))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return starts[::-1]


def next_month(start: datetime) -> datetime:
    return start.replace(year=start.year + (start.month == 12), month=start.month % 12 + 1)


def maintenance_hours(repo: PublicReportRepo, start: datetime, end: datetime) -> float:
    """Hours of approved maintenance access (``maintainer`` accounts) within ``[start, end)``.

    The same figure as the insider report's ``maintenance_hours``: each approved account's
    window from approval to expiry, clipped to the month.
    """
    return sum(overlap_hours(lo, hi, start, end) for lo, hi in repo.maintenance_windows(start, end))


@dataclass(frozen=True, slots=True)
class MonthFigures:
    month: str  # YYYY-MM
    faces: int
    candidate: int  # alerts raised (all statuses)
    confirmed: int
    rejected: int
    authorizations: dict[tuple[str, str], int]  # (purpose, authority) -> in force in the month
    maintenance_hours: float
    retention_deleted: dict[str, int]

    def public(self) -> dict[str, Any]:
        return {
            "month": self.month,
            "faces_processed": suppress(self.faces),
            "alerts": {
                "candidate": suppress(self.candidate),
                "confirmed": suppress(self.confirmed),
                "rejected": suppress(self.rejected),
            },
            "authorizations": [
                {"purpose": p, "authority": a, "count": suppress(n)}
                for (p, a), n in sorted(self.authorizations.items())
            ],
            "maintenance_hours": round(self.maintenance_hours, 2),
            "retention_deletions": {
                k: suppress(v) for k, v in sorted(self.retention_deleted.items())
            },
            "retention_deletions_total": suppress(sum(self.retention_deleted.values())),
        }


def _month(repo: PublicReportRepo, a: datetime, b: datetime) -> MonthFigures:
    faces = sum(c.faces for c in repo.counts_by_camera(a, b))
    by_status: dict[AlertStatus, int] = defaultdict(int)
    for row in repo.alerts_by_camera_and_status(a, b):
        by_status[row.status] += row.alerts
    deleted: dict[str, int] = defaultdict(int)
    for run in repo.retention_deletions(a, b):
        for kind, n in run.items():
            deleted[kind] += int(n)
    return MonthFigures(
        month=f"{a:%Y-%m}",
        faces=faces,
        candidate=sum(by_status.values()),
        confirmed=by_status[AlertStatus.confirmed],
        rejected=by_status[AlertStatus.rejected],
        authorizations={
            (r.purpose, r.authority): r.authorizations
            for r in repo.authorizations_by_authority(a, b)
        },
        maintenance_hours=maintenance_hours(repo, a, b),
        retention_deleted=dict(deleted),
    )


def build_public_payload(
    db: Database, settings: Settings, now: datetime, months: int = DEFAULT_MONTHS
) -> dict[str, Any]:
    """The public page's figures for the last ``months`` calendar months up to ``now``."""
    starts = month_starts(now, months)
    with db.read() as s:
        repo = PublicReportRepo(s)
        figures = [_month(repo, a, min(next_month(a), now)) for a in starts]
        purposes = [repo.purpose_in_force(p, now) for p in Purpose]
        threshold = current_threshold(s, settings, settings.model_pack)
    return {
        "format": FORMAT,
        "generated_at": now.isoformat(),
        "period": {"from": starts[0].isoformat(), "to": now.isoformat()},
        "small_counts": f"counts from 1 to {SMALL - 1} are shown as '{HIDDEN}'; 0 is shown as 0",
        "groups": [{"group": ALL_CAMERAS, "months": [f.public() for f in figures]}],
        "watchlists_by_purpose": [
            {
                "purpose": p.purpose,
                "watchlists": suppress(p.watchlists),
                "people": suppress(p.subjects),
            }
            for p in purposes
        ],
        "threshold": {
            "pack": threshold.pack,
            "threshold": threshold.threshold,
            "source": threshold.source,
            "measured_false_positive_rate": threshold.measured_fpr,
        },
    }


def canonical(payload: dict[str, Any]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign_payload(payload: dict[str, Any], signer: Signer) -> dict[str, Any]:
    return {
        "payload": payload,
        "algorithm": "Ed25519",
        "canonical": CANONICAL,
        "key_id": signer.fingerprint,
        "public_key": signer.public_b64,
        "signature": signer.sign(canonical(payload)),
    }


def verify_document(text: str, verifier: PublicVerifier) -> dict[str, Any]:
    """The payload of a signed document, or IntegrityError saying why it cannot be trusted."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise IntegrityError(f"not a JSON document: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("payload"), dict):
        raise IntegrityError("not a signed transparency document: no 'payload' object")
    signature = doc.get("signature")
    if not isinstance(signature, str):
        raise IntegrityError("the document carries no signature")
    if not verifier.verify(canonical(doc["payload"]), signature):
        named = doc.get("key_id")
        if named and named != verifier.fingerprint:
            raise IntegrityError(
                f"the document names signing key {named}, not the given key "
                f"{verifier.fingerprint}: wrong public key, or a copy signed by someone else"
            )
        raise IntegrityError(
            f"the signature does not match the content for key {verifier.fingerprint}: "
            "the copy was altered after signing"
        )
    payload: dict[str, Any] = doc["payload"]
    return payload
