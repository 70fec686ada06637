"""`vigil bench openset`: CCTV-like degradation, the embedding cache, options, a tiny real run."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from vigil.accountability.threshold import current_min_face, current_threshold
from vigil.bench.openset import (
    JPEG_QUALITY,
    MIN_CANVAS,
    EmbeddingCache,
    cctv_like,
    parse_face_sizes,
    parse_sizes,
)
from vigil.cli.main import app
from vigil.config import Settings, settings_environment
from vigil.context import AppContext
from vigil.db.models import AuditEvent
from vigil.errors import InputError
from vigil.faces.geometry import face_size_px

# Landmarks of a face 100 px wide (eye distance 40 px) in a 250x250 image.
MARKS = np.array([[105, 110], [145, 110], [125, 135], [110, 160], [140, 160]], np.float32)


@pytest.mark.parametrize("face_px", [24, 32, 48, 64])
def test_cctv_like_shrinks_the_face_to_the_asked_size(face_px: int) -> None:
    image = np.random.default_rng(0).integers(0, 255, (250, 250, 3), dtype=np.uint8)
    out = cctv_like(image, MARKS, face_px)
    scale = face_px / face_size_px(MARKS)
    inner = round(250 * scale)
    assert out.shape[0] == out.shape[1] >= MIN_CANVAS
    assert out.shape[0] - inner in (MIN_CANVAS - inner, MIN_CANVAS - inner + 1)
    assert face_size_px(MARKS * scale) == pytest.approx(face_px)


def test_cctv_like_blurs_and_compresses() -> None:
    """Fine detail is lost: far less high-frequency energy than a plain resize keeps."""
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (250, 250, 3), dtype=np.uint8)
    out = cctv_like(image, MARKS * 0.5, 64)  # a 50 px face is never enlarged
    assert out.shape[:2] == (250, 250)
    plain = image.astype(np.float64)
    sharp = cv2.Laplacian(plain, cv2.CV_64F).var()
    soft = cv2.Laplacian(out.astype(np.float64), cv2.CV_64F).var()
    assert soft < 0.5 * sharp
    assert JPEG_QUALITY == 40


def test_the_cache_round_trips_and_depends_on_the_pack_config(
    tmp_path: Path, settings: Settings
) -> None:
    cache = EmbeddingCache(tmp_path, "dlib", settings)
    assert cache.load("still") == {}
    vectors = {"A/A_0001.jpg": np.ones(4, np.float32), "B/B_0001.jpg": np.full(4, np.nan)}
    cache.save("still", vectors)
    back = cache.load("still")
    assert sorted(back) == sorted(vectors) and np.isnan(back["B/B_0001.jpg"]).all()
    other = settings.model_copy(update={"dlib": settings.dlib.model_copy(update={"upsample": 0})})
    assert EmbeddingCache(tmp_path, "dlib", other).load("still") == {}
    # the match settings change no embedding: the cache stays valid
    same = settings.model_copy(update={"dlib": settings.dlib.model_copy(update={"threshold": 0.5})})
    assert sorted(EmbeddingCache(tmp_path, "dlib", same).load("still")) == sorted(vectors)
    # ... and neither do the worker processes that run the pack
    spread = settings.model_copy(update={"dlib": settings.dlib.model_copy(update={"workers": 0})})
    assert sorted(EmbeddingCache(tmp_path, "dlib", spread).load("still")) == sorted(vectors)


def test_the_video_detector_setting_keeps_the_stills_and_parts_the_cctv_probes(
    tmp_path: Path, settings: Settings
) -> None:
    """``dlib.video_gray`` changes how CCTV-like probes are detected, not still photos: flipping
    it keeps the still embeddings and their landmarks, and keeps each setting's probes apart."""
    grey = EmbeddingCache(tmp_path, "dlib", settings)
    assert settings.dlib.video_gray
    colour_settings = settings.model_copy(
        update={"dlib": settings.dlib.model_copy(update={"video_gray": False})}
    )
    colour = EmbeddingCache(tmp_path, "dlib", colour_settings)
    one = {"A/A_0002.jpg": np.ones(4, np.float32)}
    grey.save("still", one)
    grey.save("landmarks", one)
    grey.save("cctv48", one)
    assert sorted(colour.load("still")) == sorted(colour.load("landmarks")) == sorted(one)
    assert colour.load("cctv48") == {}
    colour.save("cctv48", {"B/B_0002.jpg": np.ones(4, np.float32)})
    assert sorted(grey.load("cctv48")) == sorted(one)
    assert grey.folder == colour.folder and grey.video_folder != colour.video_folder
    # the onnx pack has no video-only setting: one folder, as before
    onnx = EmbeddingCache(tmp_path, "onnx", settings)
    assert onnx.folder_of("cctv48") == onnx.folder


@pytest.mark.parametrize(
    ("text", "expected", "error"),
    [
        ("100,1000,max", (100, 1000, 0), None),
        ("max", (0,), None),
        ("100,100", (100,), None),
        ("0", None, "not a gallery size"),
        ("ten", None, "not a gallery size"),
        ("", None, "not a gallery size"),
    ],
)
def test_parse_sizes(text: str, expected: tuple[int, ...] | None, error: str | None) -> None:
    if error:
        with pytest.raises(InputError, match=error):
            parse_sizes(text)
    else:
        assert parse_sizes(text) == expected


@pytest.mark.parametrize(
    ("text", "expected", "error"),
    [("64,24", (24, 64), None), ("4", None, "8 to 200"), ("x", None, "8 to 200")],
)
def test_parse_face_sizes(text: str, expected: tuple[int, ...] | None, error: str | None) -> None:
    if error:
        with pytest.raises(InputError, match=error):
            parse_face_sizes(text)
    else:
        assert parse_face_sizes(text) == expected


@pytest.mark.slow
@pytest.mark.shared
def test_a_tiny_real_run_then_calibrate_from_it(
    onnx_context: AppContext, onnx_settings: Settings, tmp_path: Path
) -> None:
    env = settings_environment(onnx_settings)
    runner = CliRunner()
    args = ["bench", "openset", "--pack", "onnx", "--n", "4,8", "--nonmated", "10"]
    args += ["--mated-per-id", "1", "--cctv", "--face-sizes", "32,64", "--video-n", "8"]
    args += ["--cache", str(tmp_path / "cache"), "--json"]
    result = runner.invoke(app, args, env=env)
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert "FPIR grows with N at a fixed threshold" in result.output
    assert any(line.startswith("cctv32 ") for line in lines)
    data = json.loads(lines[-1])
    assert data["pack"] == "onnx" and data["sizes"] == [4, 8]
    assert {(r["variant"], r["n"], r["target_fpir"]) for r in data["rows"]} == {
        (v, n, t) for v in ("clean", "cctv32", "cctv64") for n in (4, 8) for t in (0.01, 0.001)
    }
    assert all(0.0 <= r["fnir"] <= 1.0 and 0.0 <= r["fpir"] <= 1.0 for r in data["rows"])
    assert data["halves"]["tune"]["nonmated"] == data["halves"]["report"]["nonmated"] == 10
    assert data["embedded"] > 0
    configured = [g for g in data["growth"] if g["label"] == "configured threshold"]
    assert [g["n"] for g in configured] == [1, 4, 8]
    fpirs = [g["fpir"] for g in configured]
    assert fpirs == sorted(fpirs)  # nested galleries: FPIR never falls as N grows
    assert any(g["label"].startswith("video threshold") for g in data["growth"])
    point = data["video_point"]
    assert point["min_face_px"] in (32, 64) and point["n"] == 8
    # N = 4 below the gallery of 8: two disjoint galleries of 4, every mated probe counted
    small = {(r["variant"], r["n"], r["target_fpir"]): r for r in data["small"]}
    assert set(small) == {(v, 4, t) for v in ("clean", "cctv32", "cctv64") for t in (0.01, 0.001)}
    assert all(r["galleries"] == 2 for r in small.values())
    nested = {(r["variant"], r["n"], r["target_fpir"]): r for r in data["rows"]}
    assert all(r["mated"] > nested[key]["mated"] for key, r in small.items())
    assert all(r["nonmated"] == 2 * nested[key]["nonmated"] for key, r in small.items())
    assert [(p["n"], p["rows"][0]["galleries"]) for p in data["min_face_by_n"]] == [(4, 2), (8, 1)]
    assert "smaller watchlists, pooled over every disjoint gallery" in result.output
    assert "minimum face at N=    4" in result.output
    early = data["early"]  # the early-alert margin, chosen on tuning, reported per variant
    assert early["n"] == 8 and early["tries"] == onnx_settings.tracking.best_shots
    assert early["threshold"] == onnx_settings.onnx.threshold
    assert early["chosen_on"] == ["clean", "cctv64"]  # faces the size gate lets through
    assert early["configured_margin"] == onnx_settings.onnx.early_margin  # the pack's own
    margins = {early["chosen_margin"], early["configured_margin"]} - {None}
    assert {(r["variant"], r["margin"]) for r in early["rows"]} == {
        (v, m) for v in ("clean", "cctv32", "cctv64") for m in margins
    }
    assert all(r["fpir_early"] <= r["fpir_normal"] for r in early["rows"])  # a stricter bar
    assert "early alerts at threshold" in result.output

    rerun = runner.invoke(app, args, env=env)
    assert rerun.exit_code == 0, rerun.output
    assert json.loads(rerun.output.strip().splitlines()[-1])["embedded"] == 0  # all cached

    # Two worker processes embed the same vectors, so every figure is the same.
    pooled_args = [*args[:-3], "--cache", str(tmp_path / "pooled"), "--workers", "2", "--json"]
    pooled = runner.invoke(app, pooled_args, env=env)
    assert pooled.exit_code == 0, pooled.output
    pooled_data = json.loads(pooled.output.strip().splitlines()[-1])
    assert pooled_data["embedded"] == data["embedded"]
    for mine, theirs in zip(pooled_data["rows"], data["rows"], strict=True):
        assert mine["fnir"] == pytest.approx(theirs["fnir"], abs=1e-9)
        assert mine["threshold"] == pytest.approx(theirs["threshold"], abs=1e-5)

    report = tmp_path / "openset.json"
    report.write_text(result.output)
    done = runner.invoke(
        app, ["calibrate", "--pack", "onnx", "--from-openset", str(report)], env=env
    )
    assert done.exit_code == 0, done.output
    # the early margin is configuration: calibrate names the pack's key and what the run chose
    assert f"onnx.early_margin = {onnx_settings.onnx.early_margin}" in done.output
    assert "this open-set run chose" in done.output
    with onnx_context.db.read() as s:
        threshold = current_threshold(s, onnx_settings, "onnx")
        min_face = current_min_face(s, onnx_settings, "onnx")
        event = s.scalars(select(AuditEvent).where(AuditEvent.action == "threshold.change")).one()
    assert threshold.source == "calibrated"
    assert threshold.threshold == pytest.approx(point["threshold"])
    assert (min_face.source, min_face.min_face_px) == ("calibrated", point["min_face_px"])
    assert event.details["min_face_px"] == point["min_face_px"]
    assert "CCTV-like" in event.details["protocol"]
