"""Core CLI through typer's CliRunner: authorizations, watchlists, enrollment, bad arguments."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from vigil.cli.main import app


@pytest.fixture()
def env(vigil_home: Path, onnx_models: tuple[Path, Path]) -> dict[str, str]:
    det, emb = onnx_models
    return {
        "VIGIL_HOME": str(vigil_home),
        "VIGIL_MODEL_PACK": "onnx",
        "VIGIL_ONNX_DETECTOR": str(det),
        "VIGIL_ONNX_EMBEDDER": str(emb),
    }


@pytest.fixture()
def vigil(env: dict[str, str]):
    runner = CliRunner()
    made = runner.invoke(app, ["init"], env=env)
    assert made.exit_code == 0, made.output

    def invoke(*args: str):
        return runner.invoke(app, list(args), env=env)

    return invoke


AUTH = [
    "authorization",
    "add",
    "ORD-1",
    "--purpose",
    "missing_person",
    "--legal-basis",
    "Art 5",
    "--authority",
    "District Court",
    "--expires",
    "2099-01-01T00:00Z",
]


def test_authorization_add_list_revoke(vigil) -> None:
    result = vigil(*AUTH, "--cameras", "cam1,cam2")
    assert result.exit_code == 0, result.output
    assert "ORD-1 added" in result.output and "cam1, cam2" in result.output
    listed = vigil("authorization", "list")
    assert (
        "ORD-1" in listed.output
        and "active" in listed.output
        and "cameras=cam1,cam2" in listed.output
    )
    revoked = vigil("authorization", "revoke", "ORD-1")
    assert revoked.exit_code == 0 and "revoked" in revoked.output
    assert "revoked" in vigil("authorization", "list").output
    again = vigil("authorization", "refuse", "ORD-1")
    assert again.exit_code != 0 and "already revoked" in again.output


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("--expires", "next tuesday"), "not an ISO 8601 time"),
        (("--purpose", "find_protesters"), "is not allowed"),
        (("--valid-from", "2099-06-01T00:00Z"), "expiry must be after"),
        (("--cameras", " , "), "--cameras is empty"),
        (("--authority", "  "), "authority is empty"),
    ],
)
def test_authorization_add_bad_arguments(vigil, change: tuple[str, str], message: str) -> None:
    args = list(AUTH)
    if change[0] in args:
        args[args.index(change[0]) + 1] = change[1]
    else:
        args += list(change)
    result = vigil(*args)
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output
    assert "no authorizations" in vigil("authorization", "list").output


def test_duplicate_and_unknown_references(vigil) -> None:
    assert vigil(*AUTH).exit_code == 0
    dup = vigil(*AUTH)
    assert dup.exit_code != 0 and "already exists" in dup.output
    missing = vigil("authorization", "revoke", "NOPE")
    assert missing.exit_code == 4 and "no authorization 'NOPE'" in missing.output


def test_watchlist_add_and_list(vigil) -> None:
    assert vigil(*AUTH).exit_code == 0
    result = vigil("watchlist", "add", "missing", "--authorization", "ORD-1")
    assert result.exit_code == 0, result.output
    listed = vigil("watchlist", "list")
    assert (
        "missing" in listed.output
        and "authorization=ORD-1" in listed.output
        and "subjects=0" in listed.output
    )
    unknown = vigil("watchlist", "add", "other", "--authorization", "ORD-404")
    assert unknown.exit_code == 4 and "no authorization 'ORD-404'" in unknown.output


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("nowhere", "Jane", "{photo}"), 4, "no watchlist 'nowhere'"),
        (("missing", "Jane", "/no/such/photo.jpg"), 2, "not found /no/such/photo.jpg"),
        (("missing", " ", "{photo}"), 2, "subject name is empty"),
    ],
)
def test_enroll_bad_arguments(vigil, photos: Path, args, code: int, message: str) -> None:
    assert vigil(*AUTH).exit_code == 0
    assert vigil("watchlist", "add", "missing", "--authorization", "ORD-1").exit_code == 0
    photo = str(photos / "obama.jpg")
    result = vigil("enroll", *[a.replace("{photo}", photo) for a in args])
    assert result.exit_code == code, result.output
    assert message in result.output
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_enroll_reports_every_photo_when_one_path_is_missing(vigil, photos: Path) -> None:
    assert vigil(*AUTH).exit_code == 0
    assert vigil("watchlist", "add", "missing", "--authorization", "ORD-1").exit_code == 0
    result = vigil(
        "enroll",
        "missing",
        "Barack Obama",
        "/no/such/first.jpg",
        str(photos / "obama.jpg"),
        str(photos / "two_people.jpg"),
    )
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines[0] == "not found /no/such/first.jpg: photo file not found"
    assert lines[1].startswith("ok ") and "obama.jpg" in lines[1]
    assert lines[2].startswith("rejected ") and "several_faces" in lines[2]
    assert "1 of 3 photos used" in lines[3]
    assert "subjects=1" in vigil("watchlist", "list").output


def test_enroll_with_only_missing_paths_fails_and_names_them(vigil) -> None:
    assert vigil(*AUTH).exit_code == 0
    assert vigil("watchlist", "add", "missing", "--authorization", "ORD-1").exit_code == 0
    result = vigil("enroll", "missing", "Jane", "/no/a.jpg", "/no/b.jpg")
    assert result.exit_code == 2, result.output
    assert "not found /no/a.jpg" in result.output and "not found /no/b.jpg" in result.output
    assert "nothing was enrolled" in result.output
    assert "subjects=0" in vigil("watchlist", "list").output


@pytest.mark.slow
def test_enroll_prints_a_line_per_photo_and_fails_without_a_usable_one(
    vigil, photos: Path, tmp_path: Path
) -> None:
    assert vigil(*AUTH).exit_code == 0
    assert vigil("watchlist", "add", "missing", "--authorization", "ORD-1").exit_code == 0
    not_image = tmp_path / "notes.jpg"
    not_image.write_text("not a photo")
    ok = vigil(
        "enroll",
        "missing",
        "Barack Obama",
        str(photos / "obama.jpg"),
        str(photos / "two_people.jpg"),
        str(not_image),
    )
    assert ok.exit_code == 0, ok.output
    assert "ok " in ok.output and "obama.jpg" in ok.output
    assert "rejected" in ok.output and "several_faces" in ok.output and "not_an_image" in ok.output
    assert "1 of 3 photos used" in ok.output
    assert "subjects=1" in vigil("watchlist", "list").output
    bad = vigil("enroll", "missing", "Nobody", str(photos / "two_people.jpg"))
    assert bad.exit_code != 0 and "no usable photo" in bad.output
    assert "subjects=1" in vigil("watchlist", "list").output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("/no/such/clip.mp4", "--camera", "cam1"), "no/such/clip.mp4"),
        (("{clip}", "--camera", "bad name!"), "camera"),
        (("ftp://host/clip", "--camera", "cam1"), "unsupported video source"),
    ],
)
def test_analyze_bad_arguments(vigil, hamilton_clip: Path, args, message: str) -> None:
    result = vigil("analyze", *[a.replace("{clip}", str(hamilton_clip)) for a in args])
    assert result.exit_code != 0
    assert message in result.output
    assert "Traceback" not in result.output


def test_bench_throughput_missing_file(vigil) -> None:
    result = vigil("bench", "throughput", "/no/clip.mp4", "--pack", "onnx")
    assert result.exit_code == 2 and "video file not found" in result.output


@pytest.mark.slow
def test_bench_lfw_json_last_line(vigil) -> None:
    result = vigil("bench", "lfw", "--pack", "onnx", "--limit-pairs", "6", "--json")
    assert result.exit_code == 0, result.output
    assert "LFW onnx: accuracy" in result.output and "threshold" in result.output
    data = json.loads(result.output.strip().splitlines()[-1])
    assert 0.5 <= data["accuracy"] <= 1.0 and data["pairs"] == 60
    assert {"std", "threshold"} <= set(data)


@pytest.mark.parametrize(("pack", "message"), [("cnn", "unknown model pack 'cnn'")])
def test_bench_lfw_unknown_pack(vigil, pack: str, message: str) -> None:
    result = vigil("bench", "lfw", "--pack", pack)
    assert result.exit_code == 2 and message in result.output
