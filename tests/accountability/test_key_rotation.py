"""Versioned data keys and rotation next to a running server (issue 13, High 2).

Fast: random embeddings and fake JPEG bytes, a real SQLite database and real key files.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from vigil.accountability import rotation
from vigil.accountability.crypto import (
    DataCipher,
    Keyring,
    blob_key_id,
    key_id,
    read_keyring,
    write_keyring,
)
from vigil.accountability.deployment_lock import DeploymentLock
from vigil.accountability.rotation import retire_unused_keys
from vigil.cli.main import app
from vigil.config import Settings, load_settings, settings_environment
from vigil.context import AppContext, build_context
from vigil.db.models import Subject, Template
from vigil.errors import ConfigError, Conflict, IntegrityError
from vigil.services.alerts import AlertQueries
from vigil.services.authorizations import AuthorizationInput, AuthorizationService
from vigil.services.gallery import ActiveGallery
from vigil.services.watchlists import WatchlistService
from vigil.timeutil import utcnow
from vigil.types import Embedding, Quality, ValidatedFace


@pytest.fixture()
def server_settings(vigil_home: Path) -> Settings:
    return load_settings(
        {"VIGIL_HOME": str(vigil_home)}, server={"secret_key": secrets.token_urlsafe(48)}
    )


@pytest.fixture()
def server(server_settings: Settings) -> Iterator[AppContext]:
    """The context a running server holds: built once, before any rotation."""
    ctx = build_context(server_settings)
    AuthorizationService(ctx.db).create(
        AuthorizationInput("R-1", "missing_person", "Art 1", "Court", utcnow() + timedelta(30)),
        actor="t",
    )
    WatchlistService(ctx.db, ctx.cipher).create("wl", "R-1", actor="t")
    yield ctx
    ctx.close()


def _face(seed: int) -> ValidatedFace:
    vector = np.random.default_rng(seed).normal(size=128)
    crop = b"\xff\xd8\xff" + f"photo-{seed}".encode()
    return ValidatedFace(Embedding.normalised(vector, "dlib"), Quality(1, 1, 1, 1), crop, "p.jpg")


def _enroll(ctx: AppContext, name: str, seed: int) -> int:
    WatchlistService(ctx.db, ctx.cipher).enroll("wl", name, [_face(seed)], actor="t")
    with ctx.db.read() as s:
        subject = s.scalar(select(Subject).where(Subject.name == name))
    assert subject is not None
    return subject.id


def _restart(ctx: AppContext) -> AppContext:
    return build_context(ctx.settings, create=False)


def _rotate(ctx: AppContext, *args: str) -> tuple[int, str]:
    env = settings_environment(ctx.settings)
    result = CliRunner().invoke(app, ["keys", "rotate", "--yes", *args], env=env)
    return result.exit_code, result.output


def _key_ids(ctx: AppContext) -> tuple[bytes, ...]:
    return read_keyring(Path(ctx.key_path)).ids


def _template_key_ids(ctx: AppContext) -> set[bytes | None]:
    with ctx.db.read() as s:
        return {blob_key_id(t.vector) for t in s.scalars(select(Template))}


# ------------------------------------------------------------------------------ the keyring


def test_a_one_line_key_file_is_a_keyring_of_one(tmp_path: Path) -> None:
    key = os.urandom(32)
    path = tmp_path / "data.key"
    path.write_bytes(base64.b64encode(key) + b"\n")
    sealed = DataCipher(key).seal(b"plain", b"aad")
    assert read_keyring(path) == Keyring((key,))
    assert DataCipher.from_file(path).open(sealed, b"aad") == b"plain"


def test_the_cipher_opens_each_blob_with_its_own_key_and_seals_with_the_last(
    tmp_path: Path,
) -> None:
    old, new = os.urandom(32), os.urandom(32)
    by_old = DataCipher(old).seal(b"before", b"a")
    path = tmp_path / "data.key"
    write_keyring(path, Keyring((old, new)))
    assert path.stat().st_mode & 0o777 == 0o600
    cipher = DataCipher.from_file(path)
    by_ring = cipher.seal(b"after", b"a")
    assert blob_key_id(by_ring) == key_id(new)
    assert (cipher.open(by_old, b"a"), cipher.open(by_ring, b"a")) == (b"before", b"after")
    with pytest.raises(IntegrityError, match="different key"):
        DataCipher(old).open(by_ring, b"a")


def test_a_cipher_following_the_file_picks_a_new_key_up(tmp_path: Path) -> None:
    old, new = os.urandom(32), os.urandom(32)
    path = tmp_path / "data.key"
    write_keyring(path, Keyring((old,)))
    cipher = DataCipher.from_file(path)
    assert blob_key_id(cipher.seal(b"x")) == key_id(old)
    write_keyring(path, Keyring((old, new)))
    sealed_elsewhere = DataCipher(new).seal(b"y")
    assert cipher.open(sealed_elsewhere) == b"y"
    assert blob_key_id(cipher.seal(b"z")) == key_id(new)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "holds 0 bytes"),
        (b"# only a comment\n", "holds 0 bytes"),
        (b"not base64!\n", "is not a base64 key"),
        (base64.b64encode(os.urandom(32)) + b"\n" + b"bad line\n", "line 2 is not a base64 key"),
        (base64.b64encode(b"short") + b"\n" + base64.b64encode(os.urandom(32)), "line 1 holds 5"),
    ],
    ids=["empty", "comment-only", "garbage", "bad-second-line", "short-first-line"],
)
def test_a_malformed_keyring_names_the_file_and_line(
    tmp_path: Path, body: bytes, message: str
) -> None:
    path = tmp_path / "data.key"
    path.write_bytes(body)
    with pytest.raises(ConfigError, match=message) as info:
        read_keyring(path)
    assert info.value.key == "security.key_file"


# ------------------------------------------------------------------ rotation and the server


def test_an_enrollment_by_a_running_server_after_a_rotation_stays_readable(
    server: AppContext,
) -> None:
    """The reported loss: rotate while the server runs, enroll through it, restart.

    Before keyrings, the rotation replaced the key file and the server kept sealing with the old
    key, which no file held any more: the subject's template and photo were lost for good."""
    before = _enroll(server, "enrolled-before", 1)
    code, output = _rotate(server, "--online")
    assert code == 0, output
    after = _enroll(server, "enrolled-after", 2)  # the server's cipher was built before
    restarted = _restart(server)
    try:
        photos = AlertQueries(restarted.db, restarted.cipher)
        for subject_id, seed in ((before, 1), (after, 2)):
            assert photos.subject_photo(subject_id, viewer="t") == _face(seed).crop_jpeg
        gallery = ActiveGallery(restarted.db, restarted.cipher, restarted.settings, "dlib")
        assert len(gallery.refresh().entries) == 2
    finally:
        restarted.close()
    assert _template_key_ids(server) == {_key_ids(server)[-1]}, "both sealed with the new key"


def test_blobs_sealed_before_and_after_a_rotation_open_in_the_running_server(
    server: AppContext,
) -> None:
    old_id = server.cipher.key_id
    first = server.cipher.seal(b"before", b"row:1")
    _enroll(server, "a", 1)
    code, output = _rotate(server, "--online")
    assert code == 0, output
    second = server.cipher.seal(b"after", b"row:2")
    assert blob_key_id(first) == old_id and blob_key_id(second) != old_id
    # The old key was retired (the rotation re-sealed every stored blob), so a blob sealed
    # with it and never stored no longer opens; everything stored does.
    assert old_id not in _key_ids(server)
    assert server.cipher.open(second, b"row:2") == b"after"
    gallery = ActiveGallery(server.db, server.cipher, server.settings, "dlib")
    assert len(gallery.refresh().entries) == 1


def test_an_old_key_still_used_by_a_stored_blob_is_kept(server: AppContext) -> None:
    """A blob sealed with an old key (e.g. a write racing the rotation) keeps that key alive."""
    path = Path(server.key_path)
    (old,) = read_keyring(path).keys
    subject_id = _enroll(server, "a", 1)
    new = os.urandom(32)
    write_keyring(path, Keyring((old, new)))
    _enroll(server, "b", 2)  # sealed with the new key
    assert retire_unused_keys(server.db, path, actor="t") == ()
    assert read_keyring(path).keys == (old, new), "the old key opens subject a: kept"
    WatchlistService(server.db, server.cipher).remove_subject(subject_id, actor="t")
    assert retire_unused_keys(server.db, path, actor="t") == (key_id(old).hex(),)
    assert read_keyring(path).keys == (new,)


def test_an_interrupted_rotation_loses_nothing_and_a_rerun_finishes_it(
    server: AppContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rotation, "BATCH", 1)  # one template per transaction
    ids = [_enroll(server, name, seed) for seed, name in enumerate("abc", 1)]
    (old,) = _key_ids(server)
    with server.db.write() as s:  # the last template is damaged: its batch fails
        broken = s.scalar(select(Template).order_by(Template.id.desc()))
        assert broken is not None
        broken.vector = broken.vector[:-1] + bytes([broken.vector[-1] ^ 1])
    code, output = _rotate(server)
    assert code == IntegrityError.exit_code and "integrity check" in output, output
    ring = _key_ids(server)
    assert ring[0] == old and len(ring) == 2, "both keys kept after the interruption"
    assert _template_key_ids(server) == set(ring), "the first batches were re-sealed"
    photos = AlertQueries(server.db, server.cipher)
    assert [photos.subject_photo(i, viewer="t") for i in ids[:2]] == [
        _face(1).crop_jpeg,
        _face(2).crop_jpeg,
    ]
    WatchlistService(server.db, server.cipher).remove_subject(ids[2], actor="t")
    code, output = _rotate(server)
    assert code == 0, output
    assert len(_key_ids(server)) == 1 and _template_key_ids(server) == set(_key_ids(server))
    assert photos.subject_photo(ids[0], viewer="t") == _face(1).crop_jpeg


def test_rotation_is_refused_while_a_server_holds_the_deployment(server: AppContext) -> None:
    path = Path(server.key_path)
    _enroll(server, "a", 1)
    key_file, stored = path.read_bytes(), _template_key_ids(server)
    with DeploymentLock(server.settings.home).hold_for_server():
        code, output = _rotate(server)
    assert code == Conflict.exit_code, output
    assert "a running server holds this deployment" in output
    assert "stop `vigil serve`" in output.lower() and "--online" in output
    assert f"pid {os.getpid()}" in output
    assert "Traceback" not in output
    assert path.read_bytes() == key_file and _template_key_ids(server) == stored
    code, output = _rotate(server)  # the server stopped: the lock is free again
    assert code == 0, output


def test_an_online_rotation_runs_beside_the_server(server: AppContext) -> None:
    _enroll(server, "a", 1)
    old = _key_ids(server)
    with DeploymentLock(server.settings.home).hold_for_server():
        code, output = _rotate(server, "--online")
        assert code == 0, output
        assert _key_ids(server) != old and len(_key_ids(server)) == 1
        assert _template_key_ids(server) == set(_key_ids(server))


def test_vigil_serve_holds_the_lock_until_it_stops(server_settings: Settings) -> None:
    from vigil.cli.server import Runtime, ServeOptions

    lock = DeploymentLock(server_settings.home)
    context = build_context(server_settings)
    runtime = Runtime(server_settings, ServeOptions("127.0.0.1", _free_port()), context=context)
    try:
        assert lock.is_held()
        with pytest.raises(Conflict, match=r"(?i)stop `vigil serve`"):
            lock.hold_for_rotation()
    finally:
        runtime.close()
    assert not lock.is_held()
    lock.hold_for_rotation().release()


def test_a_server_does_not_start_while_a_rotation_runs(server_settings: Settings) -> None:
    lock = DeploymentLock(server_settings.home)
    with lock.hold_for_rotation(), pytest.raises(Conflict, match="key rotation holds"):
        lock.hold_for_server()
    lock.hold_for_server().release()


def test_only_one_rotation_runs_at_a_time_online_or_not(server: AppContext) -> None:
    _enroll(server, "a", 1)
    ring = _key_ids(server)
    with DeploymentLock(server.settings.home).hold_for_rotation(online=True):
        for args in ((), ("--online",)):
            code, output = _rotate(server, *args)
            assert code == Conflict.exit_code, output
            assert "another `vigil keys rotate` is running" in output
    assert _key_ids(server) == ring
    code, output = _rotate(server, "--online")
    assert code == 0, output


def test_a_lock_left_by_a_killed_server_is_stale_and_does_not_block(server: AppContext) -> None:
    home = server.settings.home
    holder = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from vigil.accountability.deployment_lock import DeploymentLock
        held = DeploymentLock(Path({str(home)!r})).hold_for_server()
        print("held", flush=True)
        time.sleep(120)
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", holder],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        code, output = _rotate(server)
        assert code == Conflict.exit_code and f"pid {proc.pid}" in output, output
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    assert (home / "vigil.lock").exists(), "the crashed server's lock file is left behind"
    code, output = _rotate(server)
    assert code == 0, output


def test_an_unreadable_template_is_skipped_and_the_others_load(
    server: AppContext, caplog: pytest.LogCaptureFixture
) -> None:
    """A template sealed with a key the keyring lost never blocks the gallery."""
    _enroll(server, "a", 1)
    _enroll(server, "b", 2)
    with server.db.write() as s:
        lost = s.scalar(select(Template).order_by(Template.id))
        assert lost is not None
        lost.vector = DataCipher(os.urandom(32)).seal(b"\0" * 512, f"template:{lost.id}".encode())
        lost_id = lost.id
    gallery = ActiveGallery(server.db, server.cipher, server.settings, "dlib")
    with caplog.at_level("WARNING", logger="vigil.services.gallery"):
        entries = gallery.refresh().entries
    assert [e.template_id for e in entries] == [lost_id + 1]
    assert f"template {lost_id} cannot be opened" in caplog.text
    assert "different key" in caplog.text


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _keys_list(ctx: AppContext) -> dict[str, object]:
    env = settings_environment(ctx.settings)
    result = CliRunner().invoke(app, ["keys", "list", "--json"], env=env)
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.output))


def test_keys_list_shows_each_key_its_blobs_and_the_server(server: AppContext) -> None:
    _enroll(server, "a", 1)
    (old,) = read_keyring(Path(server.key_path)).keys
    new = os.urandom(32)
    write_keyring(Path(server.key_path), Keyring((old, new)))
    _enroll(server, "b", 2)
    with server.db.write() as s:  # one crop-less template sealed with a key nobody has
        stray = s.scalar(select(Template).order_by(Template.id.desc()))
        assert stray is not None
        stray.vector = DataCipher(os.urandom(32)).seal(b"x", b"y")
        lost = blob_key_id(stray.vector)
    assert lost is not None
    with DeploymentLock(server.settings.home).hold_for_server():
        listed = _keys_list(server)
    # Per key: a template's vector and photo, and its subject's (audit reference) key.
    assert listed == {
        "keys": [
            {"key_id": key_id(old).hex(), "current": False, "in_keyring": True, "blobs": 3},
            {"key_id": key_id(new).hex(), "current": True, "in_keyring": True, "blobs": 2},
            {"key_id": lost.hex(), "current": False, "in_keyring": False, "blobs": 1},
        ],
        "server_running": True,
    }
    assert _keys_list(server)["server_running"] is False
