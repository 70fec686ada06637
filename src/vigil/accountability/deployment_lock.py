"""The deployment lock: a running server holds the deployment, so a key rotation can refuse.

``vigil serve`` takes HOME/vigil.lock SHARED (``flock``) for as long as it runs; `vigil keys
rotate` takes it EXCLUSIVE, so it refuses while any server runs and a server refuses to start
while a rotation runs. Every rotation, ``--online`` ones included, also takes
HOME/vigil.rotation.lock exclusive: two rotations at once could each drop the other's new key.
The kernel drops a ``flock`` when its process ends, crash or ``kill -9`` included: a lock file
left behind by a dead server is stale by construction and never blocks (the holder details
written in it are only shown in the error message).

The lock covers one machine's processes on one data folder; a deployment whose servers run on
several hosts against one PostgreSQL database must stop them all by hand before a rotation.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

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
    """Taken locks (open lock files); ``release()`` (or leaving the ``with`` block) drops them."""

    def __init__(self, *fds: int) -> None:
        self._fds = list(fds)

    def release(self) -> None:
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


class DeploymentLock:
    """HOME/vigil.lock: shared for servers, exclusive for a key rotation."""

    def __init__(self, home: Path) -> None:
        self.path = home / LOCK_NAME
        self.rotation_path = home / ROTATION_LOCK_NAME

    def hold_for_server(self, command: str = "vigil serve") -> HeldLock:
        """Taken by a server for its lifetime; refuses while a key rotation runs."""
        fd = self._take(self.path, fcntl.LOCK_SH)
        if fd is None:
            raise Conflict(
                f"a data key rotation holds this deployment ({self._describe_holder()})",
                hint="wait for `vigil keys rotate` to finish, then start the server again",
            )
        self._write_holder(command)
        return HeldLock(fd)

    def hold_for_rotation(
        self, command: str = "vigil keys rotate", *, online: bool = False
    ) -> HeldLock:
        """Taken by a key rotation: refuses while another rotation runs and, unless ``online``,
        while any server holds the deployment."""
        mutex = self._take(self.rotation_path, fcntl.LOCK_EX)
        if mutex is None:
            raise Conflict(
                "another `vigil keys rotate` is running on this deployment",
                hint="wait for it to finish; one rotation at a time keeps every key in the ring",
            )
        if online:
            return HeldLock(mutex)
        fd = self._take(self.path, fcntl.LOCK_EX)
        if fd is None:
            HeldLock(mutex).release()
            raise Conflict(
                f"a running server holds this deployment ({self._describe_holder()}): it keeps "
                "the data keys in memory and seals new data while the rotation runs",
                hint="stop `vigil serve` (Ctrl-C or SIGTERM), then run `vigil keys rotate --yes` "
                "again; or add --online to rotate while it runs (it picks the new key up)",
            )
        self._write_holder(command)
        return HeldLock(mutex, fd)

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
        HeldLock(fd).release()
        return False

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
