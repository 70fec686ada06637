"""The deployment lock with PostgreSQL: servers on other machines (other data folders) count."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.accountability.deployment_lock import DeploymentLock
from vigil.errors import Conflict


def test_a_server_on_another_machine_blocks_an_offline_rotation(
    tmp_path: Path, pg_database: str
) -> None:
    machine_a = DeploymentLock(tmp_path / "a", pg_database)
    machine_b = DeploymentLock(tmp_path / "b", pg_database)
    try:
        server = machine_a.hold_for_server()
        assert machine_b.is_held()
        with pytest.raises(Conflict, match="a server on another machine"):
            machine_b.hold_for_rotation()
        machine_b.hold_for_rotation(online=True).release()  # --online: only one rotation at once
        server.release()
        assert not machine_b.is_held()
        rotation = machine_b.hold_for_rotation()
        with pytest.raises(Conflict, match="key rotation holds this deployment"):
            machine_a.hold_for_server()
        with pytest.raises(Conflict, match="another `vigil keys rotate`"):
            machine_a.hold_for_rotation(online=True)
        rotation.release()
        machine_a.hold_for_server().release()
    finally:
        machine_a.close()
        machine_b.close()
