"""`vigil serve` with the dlib pack starts its model worker processes and leaves none behind when
it is stopped by SIGTERM (a service manager) or by Ctrl-C (SIGINT to the whole process group)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from vigil.bench.proc import alive, cmdline, descendants
from vigil.cli.main import app

VIGIL = Path(sys.executable).with_name("vigil")
pytestmark = pytest.mark.slow


def _deployment(home: Path, clip: Path) -> None:
    result = CliRunner().invoke(app, ["init", "--plain-http"], env={"VIGIL_HOME": str(home)})
    assert result.exit_code == 0, result.output
    config = yaml.safe_load((home / "vigil.yaml").read_text())
    config["cameras"] = [{"name": "door", "url": str(clip), "max_fps": 2}]
    config["model_pack"] = "dlib"
    config["dlib"] = {"workers": 2}
    (home / "vigil.yaml").write_text(yaml.safe_dump(config))


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize("how", ["sigterm", "ctrl-c"])
def test_serve_stops_its_dlib_workers(tmp_path: Path, hamilton_clip: Path, how: str) -> None:
    home = tmp_path / "home"
    _deployment(home, hamilton_clip)
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [str(VIGIL), "serve", "--loop-files", "--port", str(_free_port())],
        env={**os.environ, "VIGIL_HOME": str(home), "COLUMNS": "160"},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, as in a terminal
    )
    try:
        deadline = time.monotonic() + 300  # bounds the wait (model loading on a busy box)
        output = ""
        while "Uvicorn running" not in output:
            assert proc.poll() is None and time.monotonic() < deadline, output
            time.sleep(0.5)
            output = (tmp_path / "serve.log").read_text()
        workers = [
            p for p in descendants(proc.pid, zombies=False) if "multiprocessing" in cmdline(p)
        ]
        assert len([p for p in workers if "spawn_main" in cmdline(p)]) == 2, output
        started = {p: cmdline(p) for p in descendants(proc.pid, zombies=False)}
        if how == "sigterm":
            proc.send_signal(signal.SIGTERM)
        else:
            os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches the workers too
        code = proc.wait(120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
        log.close()
    output = (tmp_path / "serve.log").read_text()
    assert code == 0, output
    assert "Vigil stopped" in output
    assert "Traceback" not in output and "KeyboardInterrupt" not in output
    # multiprocessing's resource tracker leaves when the last process holding its pipe has gone
    # (after the server itself): a bounded wait, not a speed assertion
    deadline = time.monotonic() + 30
    while alive(started) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert {p: started[p] for p in alive(started)} == {}
