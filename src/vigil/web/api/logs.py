"""This server process's recent log records: administrators, auditors and maintainers.

Each ``vigil serve`` process keeps its own (``vigil.services.logs``); records carry no personal
data, and every read is audited (``logs.view``).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from vigil.services.logs import LogQuery
from vigil.web.deps import LogReader, Logs
from vigil.web.schemas import LogLinePublic, UtcDatetime

router = APIRouter(tags=["logs"])

Level = Annotated[
    Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
    Query(description="lowest level shown"),
]
Since = Annotated[
    UtcDatetime | None,
    Query(description="only records after this time (ISO 8601, UTC if no offset)"),
]
Limit = Annotated[int, Query(ge=1, le=1000, description="at most this many records")]


@router.get(
    "/logs",
    response_model=list[LogLinePublic],
    summary="This server process's recent log records, newest first (no personal data; "
    "each read is audited)",
)
def list_logs(
    logs: Logs,
    user: LogReader,
    level: Level = "INFO",
    since: Since = None,
    limit: Limit = 200,
) -> list[LogLinePublic]:
    query = LogQuery(level=level, since=since, limit=limit)
    return [LogLinePublic.model_validate(line) for line in logs.read(query, actor=user.username)]
