"""The deployment lock: a running server holds the deployment, so a key rotation can refuse.

``vigil serve`` takes HOME/vigil.lock SHARED (``flock``) for as long as it runs; `vigil keys
rotate` takes it EXCLUSIVE, so it refuses while any server runs and a server refuses to start
while a rotation runs. Every rotation, ``--online`` ones included, also takes
HOME/vigil.rotation.lock exclusive: two rotations at once could each drop the other's new key.
The kernel drops a ``flock`` when its process ends, crash or ``kill -9`` included: a lock file
left behind by a dead server is stale by construction and never blocks (the holder details
written in it are only shown in the error message).

On PostgreSQL the servers may run on several machines, each with its own data folder: the
``flock`` only sees one machine. So with a PostgreSQL ``database_url`` the same two locks are
ALSO taken in the database, as session advisory locks (:meth:`Database.try_lock`): a server holds
``deployment`` shared, a rotation takes it exclusive (refused while any server anywhere runs,
unless ``--online``) and ``rotation`` exclusive (one rotation at a time). PostgreSQL drops them
when the holder's connection ends, crash included. (The key file itself is per machine: after a
rotation, copy the new keyring to every server's data folder before starting them.)
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from vigil.db.session import Database, SessionLock
from vigil.errors import Conflict, StorageError
from vigil.timeutil import utcnow

LOCK_NAME = "vigil.lock"
ROTATION_LOCK_NAME = "vigil.rotation.lock"  # one rotation at a time, online ones included


@dataclass(frozen=True, slots=True)
class LockHolder:
    """Who wrote the lock file last (shown in errors; the ``flock`` itself decides)."""

    pid: int
    command: str
    since: str

    def describe(self) -> str:
        return f"`{self.command}` (pid {self.pid}, since {self.since})"


class HeldLock:
    """Taken locks (open lock files, database locks); ``release()`` (or leaving the ``with``
    block) drops them."""

    def __init__(self, *fds: int, db_locks: tuple[SessionLock, ...] = ()) -> None:
        self._fds = list(fds)
        self._db_locks = list(db_locks)

    def release(self) -> None:
        while self._db_locks:
            self._db_locks.pop().release()
        while self._fds:
            fd = self._fds.pop()
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> HeldLock:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


DB_LOCK = "deployment"  # the database twin of HOME/vigil.lock (PostgreSQL)
DB_ROTATION_LOCK = "rotation"  # the database twin of HOME/vigil.rotation.lock


class DeploymentLock:
    """HOME/vigil.lock: shared for servers, exclusive for a key rotation; with a PostgreSQL
    ``database_url`` also the same locks in the database (servers on several machines)."""

    def __init__(self, home: Path, database_url: str | None = None) -> None:
        self.path = home / LOCK_NAME
        self.rotation_path = home / ROTATION_LOCK_NAME
        pg = database_url is not None and database_url.startswith("postgresql")
        self._db = Database(database_url) if pg and database_url else None

    def _db_lock(self, name: str, *, shared: bool = False) -> SessionLock | bool | None:
        """The database lock (True when there is no PostgreSQL database: nothing to take)."""
        return True if self._db is None else self._db.try_lock(name, shared=shared)

    @staticmethod
    def _held(*locks: SessionLock | bool | None) -> tuple[SessionLock, ...]:
        return tuple(lock for lock in locks if isinstance(lock, SessionLock))

    def hold_for_server(self, command: str = "vigil serve") -> HeldLock:
        """Taken by a server for its lifetime; refuses while a key rotation runs."""
        fd = self._take(self.path, fcntl.LOCK_SH)
        shared = self._db_lock(DB_LOCK, shared=True) if fd is not None else None
        if fd is None or shared is None:
            HeldLock(*([fd] if fd is not None else [])).release()
            where = self._describe_holder() if fd is None else "in the database"
            raise Conflict(
                f"a data key rotation holds this deployment ({where})",
                hint="wait for `vigil keys rotate` to finish, then start the server again",
            )
        self._write_holder(command)
        return HeldLock(fd, db_locks=self._held(shared))

    def hold_for_rotation(
        self, command: str = "vigil keys rotate", *, online: bool = False
    ) -> HeldLock:
        """Taken by a key rotation: refuses while another rotation runs and, unless ``online``,
        while any server holds the deployment."""
        mutex = self._take(self.rotation_path, fcntl.LOCK_EX)
        db_mutex = self._db_lock(DB_ROTATION_LOCK) if mutex is not None else None
        if mutex is not None and db_mutex is None:
            HeldLock(mutex).release()
            mutex = None
        if mutex is None:
            raise Conflict(
                "another `vigil keys rotate` is running on this deployment",
                hint="wait for it to finish; one rotation at a time keeps every key in the ring",
            )
        if online:
            return HeldLock(mutex, db_locks=self._held(db_mutex))
        fd = self._take(self.path, fcntl.LOCK_EX)
        exclusive = self._db_lock(DB_LOCK) if fd is not None else None
        if fd is None or exclusive is None:
            taken = [f for f in (mutex, fd) if f is not None]
            HeldLock(*taken, db_locks=self._held(db_mutex)).release()
            where = self._describe_holder() if fd is None else "a server on another machine"
            raise Conflict(
                f"a running server holds this deployment ({where}): it keeps "
                "the data keys in memory and seals new data while the rotation runs",
                hint="stop `vigil serve` (Ctrl-C or SIGTERM), then run `vigil keys rotate --yes` "
                "again; or add --online to rotate while it runs (it picks the new key up)",
            )
        self._write_holder(command)
        return HeldLock(mutex, fd, db_locks=self._held(db_mutex, exclusive))

    def holder(self) -> LockHolder | None:
        """The last holder written in the lock file, if readable (may be stale)."""
        try:
            data = json.loads(self.path.read_text())
            return LockHolder(int(data["pid"]), str(data["command"]), str(data["since"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def is_held(self) -> bool:
        """True while some live process holds the lock (shared or exclusive)."""
        fd = self._take(self.path, fcntl.LOCK_EX)
        if fd is None:
            return True
        exclusive = self._db_lock(DB_LOCK)
        HeldLock(fd, db_locks=self._held(exclusive)).release()
        return exclusive is None

    def close(self) -> None:
        """Close the database handle (its locks are released by their HeldLock first)."""
        if self._db is not None:
            self._db.dispose()

    def _take(self, path: Path, mode: int) -> int | None:
        """An open descriptor of ``path`` locked with ``mode``, or None when someone holds it."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StorageError(
                f"cannot open the deployment lock {path}: {exc.strerror}",
                hint="check that the data folder (VIGIL_HOME) is writable",
            ) from exc
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd

    def _write_holder(self, command: str) -> None:
        record = {"pid": os.getpid(), "command": command, "since": utcnow().isoformat()}
        # The details are only shown in messages; the flock is what counts.
        with contextlib.suppress(OSError):
            self.path.write_text(json.dumps(record) + "\n")

    def _describe_holder(self) -> str:
        holder = self.holder()
        where = f"lock {self.path}"
        return f"{holder.describe()}, {where}" if holder else where
