"""A throwaway PostgreSQL cluster for the tests (a plugin of tests/conftest.py).

:class:`PgCluster` runs Debian's PostgreSQL binaries: ``initdb`` in a fresh temporary folder,
``postgres`` on 127.0.0.1 and a free port (its Unix socket in that folder too), ``fsync=off`` (a
test cluster never survives a power cut). PostgreSQL refuses to run as root, so as root every
server command runs as the ``postgres`` user (``runuser``) and the folder belongs to it.

One cluster serves the whole test session (:func:`pg_cluster`). A template database is migrated
to head once; every test gets its own database made from it (``CREATE DATABASE ... TEMPLATE``,
a file copy: milliseconds) and dropped after the test.

The db parametrization: the tests of the db, repositories, services, accountability and web layers
(:data:`PG_DIRS`) that use the ``settings`` / ``database_url`` fixtures run twice, on ``sqlite``
and on ``postgresql`` (this plugin's ``pytest_generate_tests``), except those marked ``slow``
(their cost is a real model, not SQL) unless also marked ``both_backends`` (their subject is
the database: processes sharing one), or ``sqlite_only`` (they test SQLite itself). Without
PostgreSQL binaries the ``postgresql`` variants skip, naming the fix, except in CI (``CI=true``)
where they fail.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

SQLITE = "sqlite"
POSTGRESQL = "postgresql"
BACKENDS = (SQLITE, POSTGRESQL)
TEMPLATE_DB = "vigil_template"
SUPERUSER = "vigil"
# Test files and folders (relative to tests/) whose SQL-touching tests also run on PostgreSQL.
PG_DIRS = (
    "db/",
    "repositories/",
    "services/",
    "accountability/",
    "web/",
    "test_durable_state.py",
    "test_pg_",
)
TESTS_ROOT = Path(__file__).resolve().parent
SERVER_OPTIONS = (
    "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
    "-c max_connections=200 -c shared_buffers=32MB"
)


class PgUnavailable(RuntimeError):
    """No PostgreSQL binaries here (the message says how to install them)."""


def find_bin_dir() -> Path:
    """The folder holding initdb/pg_ctl: VIGIL_PG_BIN when set (and only it), else Debian's
    newest /usr/lib/postgresql/*/bin, else the PATH."""
    given = os.environ.get("VIGIL_PG_BIN")
    candidates = [given] if given else sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    on_path = shutil.which("initdb")
    if on_path and not given:
        candidates.append(str(Path(on_path).parent))
    for folder in candidates:
        if (Path(folder) / "initdb").is_file() and (Path(folder) / "pg_ctl").is_file():
            return Path(folder)
    raise PgUnavailable(
        "PostgreSQL server binaries (initdb, pg_ctl) not found in "
        f"{given or '/usr/lib/postgresql/*/bin or PATH'}; run scripts/install-test-deps "
        "(Debian package postgresql) or set VIGIL_PG_BIN to their folder"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgCluster:
    """One PostgreSQL server in a temporary folder; :meth:`stop` removes everything."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.as_root = os.geteuid() == 0
        self.root = Path(tempfile.mkdtemp(prefix="vigil-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self._names = itertools.count(1)
        self._running = False
        if self.as_root:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bin_dir / args[0]), *args[1:]]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr}")
        return done

    def start(self) -> PgCluster:
        self._run(
            "initdb", "-D", str(self.data), "-A", "trust", "-U", SUPERUSER,
            "-E", "UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip
        options = f"-h 127.0.0.1 -p {self.port} -k {self.root} {SERVER_OPTIONS}"
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"),
            "-o", options, "-w", "-t", "60", "start",
        )  # fmt: skip
        self._running = True
        self.admin(f'CREATE DATABASE "{TEMPLATE_DB}"')
        return self

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def admin(self, *statements: str) -> None:
        """Run statements on the maintenance database, each outside a transaction."""
        import psycopg

        dsn = f"host=127.0.0.1 port={self.port} user={SUPERUSER} dbname=postgres"
        with psycopg.connect(dsn, autocommit=True) as conn:
            for sql in statements:
                conn.execute(sql)

    def migrate_template(self) -> None:
        from vigil.db.session import Database

        db = Database(self.url(TEMPLATE_DB))
        try:
            db.migrate()
        finally:
            db.dispose()

    def create_database(self, *, migrated: bool = True) -> str:
        """A new database (a copy of the migrated template, or empty); returns its name."""
        name = f"vigil_test_{os.getpid()}_{next(self._names)}"
        template = TEMPLATE_DB if migrated else "template0"
        self.admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}" STRATEGY FILE_COPY')
        return name

    def drop_database(self, name: str) -> None:
        self.admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def relation_path(self, relfilepath: str) -> Path:
        """The file of a relation, from ``pg_relation_filepath()`` (relative to the data dir)."""
        return self.data / relfilepath

    def stop(self) -> None:
        if self._running:
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
            self._running = False
        shutil.rmtree(self.root, ignore_errors=True)


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def _wants_postgresql(nodeid: str, markers: Sequence[str]) -> bool:
    if "sqlite_only" in markers or not nodeid.startswith(PG_DIRS):
        return False
    return "slow" not in markers or "both_backends" in markers


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sqlite_only: tests of SQLite's own behaviour (never run on PostgreSQL)"
    )
    config.addinivalue_line(
        "markers",
        "both_backends: a slow test whose subject is the database itself (processes sharing "
        "it): runs on PostgreSQL too",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Run SQL-touching tests of :data:`PG_DIRS` on both backends (see the module docstring)."""
    if "db_backend" not in metafunc.fixturenames:
        return
    path = Path(str(metafunc.definition.path)).resolve()
    try:
        rel = path.relative_to(TESTS_ROOT).as_posix()
    except ValueError:
        return
    markers = [m.name for m in metafunc.definition.iter_markers()]
    if _wants_postgresql(rel, markers):
        metafunc.parametrize("db_backend", BACKENDS, indirect=True, scope="session")


@pytest.fixture(scope="session")
def db_backend(request: pytest.FixtureRequest) -> str:
    """``sqlite`` (the default) or ``postgresql`` for tests parametrized on both."""
    return str(getattr(request, "param", SQLITE))


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """The session's PostgreSQL cluster (started on first use, stopped at the end)."""
    try:
        bin_dir = find_bin_dir()
    except PgUnavailable as exc:
        if _in_ci():
            pytest.fail(f"CI=true but PostgreSQL is missing: {exc}", pytrace=False)
        pytest.skip(str(exc))
    cluster = PgCluster(bin_dir)
    try:
        cluster.start()
        cluster.migrate_template()
        yield cluster
    finally:
        cluster.stop()


class DatabaseMaker:
    """Makes this test's (or module's) databases: ``None`` for SQLite (the default file in each
    HOME), else a fresh migrated PostgreSQL database's URL per call; :meth:`close` drops them."""

    def __init__(self, backend: str, cluster: PgCluster | None) -> None:
        self.backend = backend
        self.cluster = cluster
        self.made: list[str] = []

    def __call__(self, *, migrated: bool = True) -> str | None:
        if self.cluster is None:
            return None
        name = self.cluster.create_database(migrated=migrated)
        self.made.append(name)
        return self.cluster.url(name)

    def close(self) -> None:
        while self.cluster is not None and self.made:
            self.cluster.drop_database(self.made.pop())


def _maker(request: pytest.FixtureRequest, backend: str) -> DatabaseMaker:
    cluster = request.getfixturevalue("pg_cluster") if backend == POSTGRESQL else None
    return DatabaseMaker(backend, cluster)


@pytest.fixture()
def make_database(request: pytest.FixtureRequest, db_backend: str) -> Iterator[DatabaseMaker]:
    """``make_database()``: a new database on the test's backend (see :class:`DatabaseMaker`)."""
    maker = _maker(request, db_backend)
    yield maker
    maker.close()


@pytest.fixture(scope="module")
def module_make_database(
    request: pytest.FixtureRequest, db_backend: str
) -> Iterator[DatabaseMaker]:
    """Like ``make_database``, for module-scoped environments."""
    maker = _maker(request, db_backend)
    yield maker
    maker.close()


@pytest.fixture()
def pg_database(pg_cluster: PgCluster) -> Iterator[str]:
    """A fresh migrated PostgreSQL database's URL, whatever the test's backend (PG-only tests)."""
    maker = DatabaseMaker(POSTGRESQL, pg_cluster)
    yield str(maker())
    maker.close()


@pytest.fixture()
def database_url(make_database: DatabaseMaker) -> str | None:
    """This test's database: None for SQLite (the default file in HOME), else a fresh PG URL."""
    return make_database()


@pytest.fixture()
def empty_database_url(make_database: DatabaseMaker) -> str | None:
    """Like ``database_url``, but a PostgreSQL database is empty (tests that migrate from an old
    revision). Override ``database_url`` with it in such a module."""
    return make_database(migrated=False)


def database_env(url: str | None) -> dict[str, str]:
    """The settings environment naming ``url`` (empty for the default SQLite file)."""
    return {"VIGIL_DATABASE_URL": url} if url else {}
