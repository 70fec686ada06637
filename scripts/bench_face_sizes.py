#!/usr/bin/env python
"""Face sizes per track on the Hamilton clip (the e2e test's clip), for one model pack.

Plays ../shared/data/video/short_hamilton_clip.mp4 the way ``vigil analyze`` does (the default
camera fps cap, the pack's detector, the pipeline's tracker) and prints one line per track: its
frames, the face size (px, :func:`vigil.faces.geometry.face_size_px`, the quality gate's measure)
min / median / max, how many of its faces reach each minimum face size asked for (``--minimums``),
and the cosine similarity of its largest face to each enrolled photo (Lin-Manuel Miranda, Alex
Lacamoire), so that one can see whose tracks a minimum face size keeps.

    .venv/bin/python scripts/bench_face_sizes.py --pack dlib
"""

from __future__ import annotations

import argparse
import os
import statistics
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PEOPLE = {"Miranda": "lin-manuel-miranda.png", "Lacamoire": "alex-lacamoire.png"}


@dataclass
class TrackFaces:
    """The faces of one track: (size px, frame index, the shot) each."""

    sizes: list[float] = field(default_factory=list)
    largest: object | None = None  # FaceShot of the largest face
    first_frame: int = 0


def photo_embeddings(pack, settings, photos: Path) -> dict[str, np.ndarray]:
    from vigil.services.enrollment import FacePhotoValidator

    validator = FacePhotoValidator.from_settings(pack, settings)
    out = {}
    for name, file in PEOPLE.items():
        face = validator.validate((photos / file).read_bytes(), file)
        out[name] = np.asarray(face.embedding.vector, dtype=np.float64)
    return out


def collect(pack, settings, clip: Path) -> dict[int, TrackFaces]:
    from vigil.config import CameraConfig
    from vigil.faces.geometry import face_size_px
    from vigil.pipeline.tracker import Tracker
    from vigil.sources.offline import FileReader
    from vigil.types import FaceShot, Quality

    camera = CameraConfig(name="hamilton", url=str(clip))
    reader = FileReader(str(clip), camera.name, camera.max_fps, config=settings.sources)
    tracker = Tracker(settings.tracking, camera.name)
    tracks: dict[int, TrackFaces] = {}
    for index, frame in enumerate(reader.frames()):
        detections = pack.detect(frame.image)
        for track, detection in zip(tracker.update(frame, detections), detections, strict=True):
            faces = tracks.setdefault(track.track_id, TrackFaces(first_frame=index))
            size = face_size_px(detection.landmarks)
            if not faces.sizes or size > max(faces.sizes):
                faces.largest = FaceShot(frame, detection, Quality(1.0, 1.0, 1.0, 1.0))
            faces.sizes.append(size)
        tracker.pop_ended()
    return tracks


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pack", choices=["dlib", "onnx"], default="dlib")
    parser.add_argument("--minimums", type=int, nargs="+", default=[36, 48, 64])
    parser.add_argument(
        "--shared", type=Path, default=Path(os.environ.get("VIGIL_SHARED", ROOT.parent / "shared"))
    )
    args = parser.parse_args()

    from vigil.config import load_settings
    from vigil.models.registry import create_pack, in_process

    env = {
        "VIGIL_MODEL_PACK": args.pack,
        "VIGIL_ONNX_DETECTOR": str(args.shared / "models" / "yunet_2023mar.onnx"),
        "VIGIL_ONNX_EMBEDDER": str(args.shared / "models" / "mobilefacenet.onnx"),
    }
    settings = load_settings(env, home=Path("/nonexistent-vigil-home"))
    pack = create_pack(in_process(settings))
    people = photo_embeddings(pack, settings, args.shared / "data" / "photos")
    tracks = collect(pack, settings, args.shared / "data" / "video" / "short_hamilton_clip.mp4")
    print(f"pack {args.pack}: {len(tracks)} tracks; face size px (landmarks), min/median/max")
    for track_id, faces in sorted(tracks.items()):
        sizes = faces.sizes
        reach = " ".join(f">={m}:{sum(s >= m for s in sizes)}" for m in args.minimums)
        (embedding,) = pack.embed_shots([faces.largest])
        vector = np.asarray(embedding.vector, dtype=np.float64)
        scores = " ".join(f"{n} {float(vector @ v):.3f}" for n, v in people.items())
        print(
            f"track {track_id:3d} from frame {faces.first_frame:4d}: {len(sizes):3d} faces, "
            f"{min(sizes):5.1f} / {statistics.median(sizes):5.1f} / {max(sizes):5.1f} px; "
            f"{reach}; largest face vs {scores}"
        )
    pack.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
