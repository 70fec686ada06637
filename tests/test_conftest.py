"""The suite's own guard: in CI (CI=true) missing test data fails the run instead of skipping.

Runs pytest in a subprocess on a tiny test file next to a copy of tests/conftest.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CONFTEST = Path(__file__).with_name("conftest.py")
TINY_TEST = """
def test_needs_data(shared_dir):
    assert (shared_dir / "SOURCES.md").is_file()


def test_needs_nothing():
    assert True
"""


def _pytest(folder: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    (folder / "conftest.py").write_text(CONFTEST.read_text(encoding="utf-8"), encoding="utf-8")
    (folder / "test_tiny.py").write_text(TINY_TEST, encoding="utf-8")
    base = {k: v for k, v in os.environ.items() if k not in {"CI", "VIGIL_SHARED"}}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-rs",
            "-p",
            "no:cacheprovider",
            "-p",
            "no:root_fixtures",
            "-p",
            "no:pg_server",
            str(folder),
        ],
        cwd=folder,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture()
def fake_shared(tmp_path: Path) -> Path:
    root = tmp_path / "shared"
    root.mkdir()
    (root / "SOURCES.md").write_text("test data\n")
    return root


@pytest.mark.parametrize(
    ("ci", "data", "code", "expected"),
    [
        ("true", False, 4, "CI=true but the test data is missing"),
        ("", False, 0, "1 passed, 1 skipped"),
        ("true", True, 0, "2 passed"),
    ],
)
def test_missing_data_fails_only_in_ci(
    tmp_path: Path, fake_shared: Path, ci: str, data: bool, code: int, expected: str
) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    shared = fake_shared if data else tmp_path / "missing"
    result = _pytest(run_dir, {"CI": ci, "VIGIL_SHARED": str(shared)})
    output = result.stdout + result.stderr
    assert result.returncode == code, output
    assert expected in output
    if code:
        assert str(shared / "SOURCES.md") in output and "Set VIGIL_SHARED" in output
        assert "passed" not in output
