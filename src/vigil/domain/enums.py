"""The fixed vocabularies of the domain: purposes, statuses and roles."""

from __future__ import annotations

import enum


class Purpose(enum.StrEnum):
    """Why a watchlist may be searched: a fixed list, never free text."""

    missing_person = "missing_person"
    victim_search = "victim_search"
    imminent_threat = "imminent_threat"
    serious_crime_suspect = "serious_crime_suspect"
    consented_access = "consented_access"


class AuthorizationStatus(enum.StrEnum):
    active = "active"
    revoked = "revoked"
    refused = "refused"


class AlertStatus(enum.StrEnum):
    candidate = "candidate"  # no review yet
    pending_second = "pending_second"  # one confirmation, needs a second different user
    confirmed = "confirmed"
    rejected = "rejected"  # a false alert


class Role(enum.StrEnum):
    admin = "admin"
    supervisor = "supervisor"
    operator = "operator"
    auditor = "auditor"
    # A supplier's or integrator's engineer: camera status, metrics, logs, restarts, health; never a
    # face, a subject, an alert or the audit. Time-limited (<= 72 h) and approved by a second
    # person (vigil.services.maintainers).
    maintainer = "maintainer"
