"""The PostgreSQL guard of tests/pg_server.py: without PostgreSQL binaries the PostgreSQL tests
skip locally, naming the fix, and fail under CI=true (never a green CI without PostgreSQL).

Runs pytest in a subprocess on a tiny test file next to a copy of the plugin."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PLUGIN = Path(__file__).with_name("pg_server.py")
TINY_CONFTEST = 'pytest_plugins = ["pg_server"]\n'


@pytest.mark.parametrize(
    ("ci", "code", "expected"),
    [
        ("", 0, "1 skipped"),
        ("true", 1, "CI=true but PostgreSQL is missing"),
    ],
)
def test_missing_postgresql_skips_locally_and_fails_in_ci(
    tmp_path: Path, ci: str, code: int, expected: str
) -> None:
    (tmp_path / "pg_server.py").write_text(PLUGIN.read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / "conftest.py").write_text(TINY_CONFTEST, encoding="utf-8")
    (tmp_path / "test_tiny.py").write_text(
        "def test_uses_it(pg_cluster):\n    assert pg_cluster.port\n", encoding="utf-8"
    )
    base = {k: v for k, v in os.environ.items() if k != "CI"}
    env = {**base, "CI": ci, "VIGIL_PG_BIN": str(tmp_path / "no-postgresql")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == code, output
    assert expected in output
    assert "install-test-deps" in output and "VIGIL_PG_BIN" in output
