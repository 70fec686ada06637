"""Small helpers shared by the repositories."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Result


def rowcount(result: Result[Any]) -> int:
    """Rows a DELETE/UPDATE touched (CursorResult.rowcount; 0 if the driver doesn't say)."""
    return int(getattr(result, "rowcount", 0) or 0)
