"""Time helpers: everything in Vigil is timezone-aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime

from vigil.errors import InputError


def utcnow() -> datetime:
    return datetime.now(UTC)


def parse_iso(value: str, *, name: str = "time") -> datetime:
    """Parse ISO 8601; a naive value is taken as UTC."""
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise InputError(
            f"{name} {value!r} is not an ISO 8601 time", hint="use e.g. 2026-12-31T23:59:00Z"
        ) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def to_minute(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(second=0, microsecond=0)
