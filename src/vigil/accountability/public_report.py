"""The public transparency page: monthly aggregates, small counts hidden, signed with Ed25519.

What it publishes (issue 14 part 3), per calendar month (UTC):

- per camera group (:mod:`vigil.domain.camera_groups`): faces processed; candidate, confirmed
  and rejected alerts; the number of cameras in the group;
- deployment-wide, because they belong to no camera: authorizations in force by purpose and
  issuing authority; maintenance-access hours; retention deletions; and, now, watchlist sizes by
  purpose and the threshold in force with its measured false-positive rate.

Never a name, a reference number, a subject id, a username, a watchlist name, a camera name or
an image. A camera's figures count in the group it is in now (a camera moved to another group
takes its history along); figures of cameras no longer in the cameras table are published as
one more line, :data:`~vigil.domain.camera_groups.REMOVED_CAMERAS`, when there are any.

Small counts: a count of 1 to 4 is published as the string ``"< 5"`` (:func:`suppress`), in
each cell (group and month) on its own, so no single person's case can be read; 0 stays 0,
because "nothing happened" reveals no case and a page of "< 5" where nothing happened would
mislead. Hours, thresholds, rates and numbers of cameras are not counts of people and are
published as measured.

The signed document (``/public/transparency.json``) is
``{"payload": {...}, "signature": B64, "algorithm": "Ed25519", "key_id": HEX16,
"public_key": B64, "canonical": "..."}``; the signature covers :func:`canonical` of the payload
(JSON, keys sorted, no whitespace, UTF-8). :func:`verify_document` checks it against a public
key the reader obtained separately (``vigil keys public``), never against the key the document
names.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from vigil.accountability.report import overlap_hours
from vigil.accountability.signing import PublicVerifier, Signer
from vigil.accountability.threshold import current_min_face, current_threshold, enrolled_now
from vigil.config import Settings
from vigil.db.session import Database
from vigil.domain.camera_groups import REMOVED_CAMERAS
from vigil.domain.enums import AlertStatus, Purpose
from vigil.errors import IntegrityError
from vigil.repositories.report import PublicReportRepo

SMALL = 5  # counts below this (and above 0) are published as "< 5"
HIDDEN = "< 5"
DEFAULT_MONTHS = 12
CANONICAL = "json: keys sorted, separators (',', ':'), UTF-8, ensure_ascii false"
FORMAT = "vigil-public-transparency/2"  # /2: figures per camera group, deployment-wide apart
GROUPS_NOTE = (
    "faces processed and alerts per camera group, as this deployment groups its cameras; a "
    "camera counts in the group it is in now"
)
DEPLOYMENT_NOTE = (
    "authorizations, maintenance access, retention deletions, watchlist sizes and the threshold "
    "belong to no camera: they are published for the whole deployment, not per group"
)

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
class GroupMonth:
    """One camera group's figures for one month."""

    faces: int = 0
    candidate: int = 0  # alerts raised (all statuses)
    confirmed: int = 0
    rejected: int = 0

    def public(self, month: str) -> dict[str, Any]:
        return {
            "month": month,
            "faces_processed": suppress(self.faces),
            "alerts": {
                "candidate": suppress(self.candidate),
                "confirmed": suppress(self.confirmed),
                "rejected": suppress(self.rejected),
            },
        }


@dataclass(frozen=True, slots=True)
class DeploymentMonth:
    """One month's figures that belong to no camera."""

    month: str  # YYYY-MM
    authorizations: dict[tuple[str, str], int]  # (purpose, authority) -> in force in the month
    maintenance_hours: float
    retention_deleted: dict[str, int]

    def public(self) -> dict[str, Any]:
        return {
            "month": self.month,
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


def _groups_month(
    repo: PublicReportRepo, a: datetime, b: datetime, group_of: Mapping[str, str]
) -> dict[str, GroupMonth]:
    """Each group's figures in ``[a, b)``; cameras not in ``group_of`` count as removed."""
    faces: dict[str, int] = defaultdict(int)
    for c in repo.counts_by_camera(a, b):
        faces[group_of.get(c.camera, REMOVED_CAMERAS)] += c.faces
    alerts: dict[str, dict[AlertStatus, int]] = defaultdict(lambda: defaultdict(int))
    for row in repo.alerts_by_camera_and_status(a, b):
        alerts[group_of.get(row.camera, REMOVED_CAMERAS)][row.status] += row.alerts
    return {
        group: GroupMonth(
            faces=faces[group],
            candidate=sum(alerts[group].values()),
            confirmed=alerts[group][AlertStatus.confirmed],
            rejected=alerts[group][AlertStatus.rejected],
        )
        for group in {*faces, *alerts}
    }


def _deployment_month(repo: PublicReportRepo, a: datetime, b: datetime) -> DeploymentMonth:
    deleted: dict[str, int] = defaultdict(int)
    for run in repo.retention_deletions(a, b):
        for kind, n in run.items():
            deleted[kind] += int(n)
    return DeploymentMonth(
        month=f"{a:%Y-%m}",
        authorizations={
            (r.purpose, r.authority): r.authorizations
            for r in repo.authorizations_by_authority(a, b)
        },
        maintenance_hours=maintenance_hours(repo, a, b),
        retention_deleted=dict(deleted),
    )


def _public_groups(
    group_of: Mapping[str, str], months: list[str], figures: list[dict[str, GroupMonth]]
) -> list[dict[str, Any]]:
    """Every current group (figures or not), then removed cameras if they have figures."""
    sizes = Counter(group_of.values())
    names = sorted(sizes, key=str.casefold)
    if any(REMOVED_CAMERAS in month for month in figures):
        names.append(REMOVED_CAMERAS)
    return [
        {
            "group": name,
            "cameras": sizes.get(name),
            "months": [
                month_figures.get(name, GroupMonth()).public(month)
                for month, month_figures in zip(months, figures, strict=True)
            ],
        }
        for name in names
    ]


def build_public_payload(
    db: Database, settings: Settings, now: datetime, months: int = DEFAULT_MONTHS
) -> dict[str, Any]:
    """The public page's figures for the last ``months`` calendar months up to ``now``."""
    starts = month_starts(now, months)
    with db.read() as s:
        repo = PublicReportRepo(s)
        group_of = repo.camera_groups()
        spans = [(a, min(next_month(a), now)) for a in starts]
        by_group = [_groups_month(repo, a, b, group_of) for a, b in spans]
        deployment = [_deployment_month(repo, a, b) for a, b in spans]
        purposes = [repo.purpose_in_force(p, now) for p in Purpose]
        enrolled = enrolled_now(s, settings.model_pack)
        threshold = current_threshold(s, settings, settings.model_pack, enrolled)
        min_face = current_min_face(s, settings, settings.model_pack, enrolled)
    return {
        "format": FORMAT,
        "generated_at": now.isoformat(),
        "period": {"from": starts[0].isoformat(), "to": now.isoformat()},
        "small_counts": f"counts from 1 to {SMALL - 1} are shown as '{HIDDEN}' in each cell; "
        "0 is shown as 0",
        "groups_note": GROUPS_NOTE,
        "groups": _public_groups(group_of, [f"{a:%Y-%m}" for a in starts], by_group),
        "deployment_note": DEPLOYMENT_NOTE,
        "deployment": [m.public() for m in deployment],
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
            # the threshold above is this one raised for the number of enrolled people
            "base_threshold": threshold.base,
            "enrolled_people": suppress(threshold.enrolled or 0),
            # the smallest face (px wide) compared with the watchlists, for the same people
            "min_face_px": min_face.min_face_px,
            "base_min_face_px": min_face.base,
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
