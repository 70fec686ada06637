"""The server's recent log records, kept in memory for the Logs page and ``GET /api/logs``.

:func:`install_log_buffer` (called by :func:`vigil.web.app.create_app`, never at import) puts a
:class:`LogBuffer` on the root logger: a ring of the last ``server.log_buffer_records`` records.
It keeps Vigil's own records from ``server.log_buffer_level`` up, other libraries' from WARNING
up, and never the HTTP access log (client addresses and full URLs, which the audit covers).
Each server process has its own buffer: with several ``vigil serve`` processes, each shows its own.

What a reader sees carries no personal data:

* Vigil's code never logs a subject's name, an authorization reference, a watchlist name, a
  photo file name, a username or a client address (``tests/web/test_logs_api.py`` runs an
  enrollment, alerts, reviews, a failed delivery and a discarded candidate and looks for them);
* a record keeps its message only, never the traceback or the exception's text (a database
  error can quote the row it failed on): an exception shows as its type name;
* URLs lose their user:password and query (camera and webhook credentials live there).

Reading the buffer is audited (``logs.view``, with the filter and how many lines were shown):
a maintenance engineer's every action is.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

from vigil.accountability import audit
from vigil.config import ServerConfig
from vigil.db.session import Database

VIGIL_LOGGER = "vigil"
ACCESS_LOGGER = "uvicorn.access"
OTHERS_MIN_LEVEL = logging.WARNING
MAX_MESSAGE_CHARS = 2000
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>]+")


@dataclass(frozen=True, slots=True)
class LogLine:
    """One kept record: when, how severe, which logger, what it said (redacted)."""

    time: datetime
    level: str
    logger: str
    message: str
    exception: str | None = None  # the exception's type name only, never its text


@dataclass(frozen=True, slots=True)
class LogQuery:
    """Newest first: records at ``level`` or above, after ``since``, at most ``limit``."""

    level: str = "INFO"
    since: datetime | None = None
    limit: int = 200


def _safe_url(match: re.Match[str]) -> str:
    text = match.group(0)
    try:
        parts = urlsplit(text)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<url>"
    return f"{parts.scheme}://{parts.hostname or ''}{port}{parts.path}"


def redact(message: str) -> str:
    """``message`` with URL credentials and queries removed, cut to a readable length."""
    cleaned = _URL.sub(_safe_url, message)
    if len(cleaned) > MAX_MESSAGE_CHARS:
        cleaned = cleaned[:MAX_MESSAGE_CHARS] + " …"
    return cleaned


def level_name(levelno: int) -> str:
    """The standard level at or under ``levelno`` (custom levels fall into one of these)."""
    for name in reversed(LEVELS):
        if levelno >= logging.getLevelName(name):
            return name
    return "DEBUG"


def to_line(record: logging.LogRecord) -> LogLine:
    try:
        message = record.getMessage()
    except Exception:  # a bad format string in someone's log call: keep what it meant
        message = str(record.msg)
    exc_type = record.exc_info[0] if record.exc_info else None
    return LogLine(
        time=datetime.fromtimestamp(record.created, UTC),
        level=level_name(record.levelno),
        logger=record.name,
        message=redact(message),
        exception=exc_type.__name__ if exc_type is not None else None,
    )


class LogBuffer(logging.Handler):
    """A bounded ring of recent records (thread-safe; the oldest is dropped when full)."""

    def __init__(self, capacity: int, level: str = "INFO") -> None:
        super().__init__(logging.getLevelName(level))
        self.capacity = capacity
        self._lines: deque[LogLine] = deque(maxlen=capacity)
        self._guard = threading.Lock()
        self.addFilter(self._wanted)

    def _wanted(self, record: logging.LogRecord) -> bool:
        name = record.name
        if name == ACCESS_LOGGER or name.startswith(ACCESS_LOGGER + "."):
            return False
        own = name == VIGIL_LOGGER or name.startswith(VIGIL_LOGGER + ".")
        return own or name == "uvicorn.error" or record.levelno >= OTHERS_MIN_LEVEL

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = to_line(record)
        except Exception:
            self.handleError(record)
            return
        with self._guard:
            self._lines.append(line)

    def lines(self, query: LogQuery) -> list[LogLine]:
        minimum = logging.getLevelName(query.level)
        with self._guard:
            kept = list(self._lines)
        out: list[LogLine] = []
        for line in reversed(kept):
            if len(out) >= query.limit:
                break
            if logging.getLevelName(line.level) < minimum:
                continue
            if query.since is not None and line.time <= query.since:
                continue
            out.append(line)
        return out


_installed: list[LogBuffer] = []  # the buffers on the root logger now (one per app)
_original_level = [logging.NOTSET]  # Vigil's logger level before the first buffer came
_install_lock = threading.RLock()  # reentrant: a garbage-collected owner may uninstall anywhere


def install_log_buffer(config: ServerConfig) -> tuple[LogBuffer, Callable[[], None]]:
    """Put a new buffer on the root logger; returns it and the function that takes it off.

    While a buffer is on, Vigil's loggers pass records at the lowest level a buffer wants
    (Python's default drops everything under WARNING); their level comes back when the last
    buffer is taken off. Taking it off twice is harmless. :meth:`LogService.installed` ties a
    buffer to its app's service, so that an app dropped unclosed does not leave it on."""
    buffer = LogBuffer(config.log_buffer_records, config.log_buffer_level)
    own = logging.getLogger(VIGIL_LOGGER)
    with _install_lock:
        if not _installed:
            _original_level[0] = own.level
        _installed.append(buffer)
        logging.getLogger().addHandler(buffer)
        _apply_level(own)
    return buffer, functools.partial(_uninstall, buffer)


def _uninstall(buffer: LogBuffer) -> None:
    with _install_lock:
        logging.getLogger().removeHandler(buffer)
        if buffer in _installed:
            _installed.remove(buffer)
            _apply_level(logging.getLogger(VIGIL_LOGGER))


def _apply_level(own: logging.Logger) -> None:
    original = _original_level[0]
    if not _installed:
        own.setLevel(original)
        return
    base = original or logging.getLogger().getEffectiveLevel()
    own.setLevel(min(base, *(b.level for b in _installed)))


def console_logging() -> Callable[[], None]:
    """Warnings and errors on stderr, with time, level and logger; returns the undo.

    Python prints a record on stderr only when no handler is set anywhere, and the Logs page's
    buffer is one: ``vigil serve`` sets this printer first. Nothing changes when the root logger
    already has a handler (an embedding program's)."""
    root = logging.getLogger()
    if root.handlers:
        return lambda: None
    handler = logging.StreamHandler()
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    return lambda: root.removeHandler(handler)


class LogService:
    """Reads the buffer for the web layer and audits every read."""

    def __init__(self, db: Database, buffer: LogBuffer) -> None:
        self.db = db
        self.buffer = buffer
        self._uninstall: Callable[[], None] = lambda: None

    @classmethod
    def installed(cls, db: Database, config: ServerConfig) -> LogService:
        """A service on a new buffer put on the root logger, owned by the service: it leaves
        at :meth:`close`, or when the service is garbage-collected (never closed)."""
        buffer, uninstall = install_log_buffer(config)
        service = cls(db, buffer)
        service._uninstall = uninstall
        weakref.finalize(service, uninstall)
        return service

    def close(self) -> None:
        """Take the buffer off the root logger (what it kept stays readable)."""
        self._uninstall()

    @property
    def capacity(self) -> int:
        return self.buffer.capacity

    def read(self, query: LogQuery, *, actor: str) -> list[LogLine]:
        lines = self.buffer.lines(query)
        details: dict[str, object] = {
            "level": query.level,
            "limit": query.limit,
            "lines": len(lines),
        }
        if query.since is not None:
            details["since"] = query.since.isoformat()
        with self.db.write() as s:
            audit.record(s, actor=actor, action="logs.view", target="logs", details=details)
        return lines
