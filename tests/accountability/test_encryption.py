"""Encryption at rest: no plaintext embedding or JPEG on disk; key rotation; wrong/missing key.

Real data: Lin-Manuel Miranda enrolled with the ONNX pack, alerts from Hamilton clip frames.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from accountability.realdata import Enrolled, clip_frame, plain_crop, real_alert
from root_fixtures import ContextFactory
from vigil.accountability.crypto import MAGIC, DataCipher, load_or_create_key
from vigil.accountability.deployment_lock import DeploymentLock
from vigil.accountability.rotation import rotate_key
from vigil.cli.main import app
from vigil.config import settings_environment
from vigil.context import AppContext
from vigil.db.models import Alert, AuditEvent, Template
from vigil.errors import ConfigError, IntegrityError

pytestmark = pytest.mark.slow


def _disk(home: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(home.rglob("*")) if p.is_file())


def _stored(ctx: AppContext) -> dict[str, bytes]:
    with ctx.db.read() as s:
        out = {f"t{t.id}": t.vector + (t.photo or b"") for t in s.scalars(select(Template))}
        out |= {f"a{a.id}": a.crop or b"" for a in s.scalars(select(Alert))}
    return out


@pytest.fixture()
def stored(lin: Enrolled, hamilton_clip: Path) -> list[int]:
    return [real_alert(lin, clip_frame(hamilton_clip, i)) for i in (30, 120)]


def test_every_writer_seals(onnx_ctx: AppContext, stored: list[int]) -> None:
    with onnx_ctx.db.read() as s:
        templates, alerts = s.scalars(select(Template)).all(), s.scalars(select(Alert)).all()
        assert (len(templates), len(alerts)) == (1, len(stored)), "nothing stored to check"
        for t in templates:
            assert t.encrypted and t.vector.startswith(MAGIC) and (t.photo or b"").startswith(MAGIC)
        for a in alerts:
            assert a.crop_encrypted and (a.crop or b"").startswith(MAGIC)


def test_raw_dump_holds_no_plaintext(
    lin: Enrolled, onnx_ctx: AppContext, stored: list[int]
) -> None:
    disk = _disk(onnx_ctx.settings.home)
    vector = lin.vector.astype(np.float32).tobytes()
    crops = [plain_crop(onnx_ctx, i) for i in stored]
    # Positive control: the scan sees the sealed blobs (so it would see plaintext too).
    sealed = _stored(onnx_ctx)
    assert sealed and all(blob[-32:] in disk for blob in sealed.values())
    for start in range(0, len(vector) - 16, 16):
        assert vector[start : start + 16] not in disk, "plaintext embedding on disk"
    for jpeg in crops:
        assert jpeg.startswith(b"\xff\xd8\xff")
        assert jpeg[100:132] not in disk and jpeg[-32:] not in disk, "plaintext crop on disk"
    assert b"JFIF" not in disk and b"Exif\x00" not in disk


def test_rotation_reencrypts_everything(
    lin: Enrolled, onnx_ctx: AppContext, stored: list[int]
) -> None:
    key_path = Path(onnx_ctx.key_path)
    before = _stored(onnx_ctx)
    crops = [plain_crop(onnx_ctx, i) for i in stored]
    old_key = load_or_create_key(key_path, create=False)
    result = rotate_key(onnx_ctx.db, key_path, actor="tester", lock=_lock(onnx_ctx))
    # crops: the two alerts' and their two sightings' (each alert's first sighting has its own)
    assert (result.templates, result.photos, result.crops) == (1, 1, 4)
    assert result.old_key_id != result.new_key_id
    assert key_path.stat().st_mode & 0o777 == 0o600
    assert not list(key_path.parent.glob("data.key.*")), "backup or new key left behind"
    after = _stored(onnx_ctx)
    assert before and all(after[k] != before[k] for k in before)
    new = DataCipher(load_or_create_key(key_path, create=False))
    assert new.key_id.hex() == result.new_key_id
    for alert_id, jpeg in zip(stored, crops, strict=True):
        with onnx_ctx.db.read() as s:
            sealed = s.get(Alert, alert_id).crop
        assert new.open(sealed, f"alert:{alert_id}".encode()) == jpeg
    with onnx_ctx.db.read() as s:
        tpl = s.scalar(select(Template))
        vector = np.frombuffer(new.open(tpl.vector, f"template:{tpl.id}".encode()), np.float32)
        event = s.scalar(select(AuditEvent).where(AuditEvent.action == "keys.rotate"))
    assert np.array_equal(vector, lin.vector)
    assert event is not None and event.details["new_key_id"] == result.new_key_id
    assert result.retired_key_ids == (result.old_key_id,)
    assert result.kept_key_ids == (result.new_key_id,)
    with pytest.raises(IntegrityError, match="different key"):
        DataCipher(old_key).open(after[f"a{stored[0]}"], f"alert:{stored[0]}".encode())
    # The context's cipher follows the keyring file: it opens the re-sealed data.
    assert onnx_ctx.cipher.open(after[f"a{stored[0]}"], f"alert:{stored[0]}".encode()) == crops[0]


def test_rotation_with_wrong_key_fails_cleanly(onnx_ctx: AppContext, stored: list[int]) -> None:
    key_path = Path(onnx_ctx.key_path)
    before, original = _stored(onnx_ctx), key_path.read_bytes()
    wrong = base64.b64encode(os.urandom(32)) + b"\n"
    key_path.write_bytes(wrong)
    with pytest.raises(IntegrityError, match="different key"):
        rotate_key(onnx_ctx.db, key_path, actor="tester", lock=_lock(onnx_ctx))
    assert _stored(onnx_ctx) == before, "data changed after a failed rotation"
    assert key_path.read_bytes() == wrong
    assert sorted(p.name for p in key_path.parent.iterdir() if p.name.startswith("data.key")) == [
        "data.key"
    ]
    key_path.write_bytes(original)
    assert rotate_key(onnx_ctx.db, key_path, actor="tester", lock=_lock(onnx_ctx)).crops == 4


def _lock(ctx: AppContext) -> DeploymentLock:
    return DeploymentLock(ctx.settings.home)


def _runner_env(ctx: AppContext) -> dict[str, str]:
    return settings_environment(ctx.settings)


@pytest.mark.parametrize(
    ("damage", "code", "message"),
    [
        ("missing", 2, "data key"),
        ("wrong", 8, "different key"),
        ("garbage", 2, "not a base64 key"),
        ("short", 2, "expected 32"),
    ],
)
def test_cli_wrong_or_missing_key_is_a_clear_error(
    onnx_ctx: AppContext, stored: list[int], damage: str, code: int, message: str
) -> None:
    key_path = Path(onnx_ctx.key_path)
    before = _stored(onnx_ctx)
    if damage == "missing":
        key_path.unlink()
    elif damage == "wrong":
        key_path.write_bytes(base64.b64encode(os.urandom(32)))
    elif damage == "garbage":
        key_path.write_bytes(b"not base64 at all!")
    else:
        key_path.write_bytes(base64.b64encode(b"short"))
    result = CliRunner().invoke(app, ["keys", "rotate", "--yes"], env=_runner_env(onnx_ctx))
    assert result.exit_code == code, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert _stored(onnx_ctx) == before


def test_missing_key_with_data_is_not_recreated(
    onnx_ctx: AppContext, stored: list[int], make_context: ContextFactory
) -> None:
    key_path = Path(onnx_ctx.key_path)
    key_path.unlink()
    with pytest.raises(ConfigError, match="missing"):
        make_context(onnx_ctx.settings)
    assert not key_path.exists()
