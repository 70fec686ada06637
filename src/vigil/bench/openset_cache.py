"""The embedding cache of ``vigil bench openset``: vectors by LFW image key, per pack configuration.

One folder per pack configuration (a hash of what changes an embedding), one ``.npz`` file per
variant ("still", "landmarks", "cctv<px>"). The CCTV-like variants also depend on the video
detector's settings (:data:`VIDEO_ONLY_FIELDS`), so they sit in a subfolder named after those,
and changing them keeps the still photos' embeddings.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from vigil.config import Settings

PROTOCOL = "openset-v1"
# Pack settings that change no embedding: match settings, and how the work is spread
# (``dlib.workers``, ``onnx.threads``), so the cache stays valid when those change. (The
# threshold ladder, older than this list's last change, stays in: excluding it now would move
# every saved cache's folder.)
NOT_EMBEDDING_FIELDS = {
    "threshold",
    "video_min_face_px",
    "workers",
    "threads",
    "early_margin",
    "min_face_by_watchlist_size",
}
# Pack settings of the video detector only (``ModelPack.detect_frame``): they change the CCTV-like
# probes' embeddings, not the still photos' or their landmarks, so only the CCTV-like variants
# are kept apart by them (:meth:`EmbeddingCache.folder_of`).
VIDEO_ONLY_FIELDS = {"video_gray"}


class EmbeddingCache:
    """Vectors by LFW image key for one pack configuration, one ``.npz`` file per variant.

    A stored row of NaN is a probe in which the detector found no face.
    """

    def __init__(self, folder: Path, pack: str, settings: Settings) -> None:
        # What changes an embedding, not the match settings or the number of processes.
        section = getattr(settings, pack)
        config = section.model_dump_json(exclude=NOT_EMBEDDING_FIELDS | VIDEO_ONLY_FIELDS)
        digest = hashlib.sha256(f"{PROTOCOL}|{pack}|{config}".encode()).hexdigest()[:12]
        self.folder = folder / f"{pack}-{digest}"
        video = section.model_dump_json(include=VIDEO_ONLY_FIELDS)
        self.video_folder = (
            self.folder / f"video-{hashlib.sha256(video.encode()).hexdigest()[:8]}"
            if video != "{}"
            else self.folder
        )

    def folder_of(self, variant: str) -> Path:
        """Where ``variant`` is kept: CCTV-like probes under the video detector's settings."""
        return self.video_folder if variant.startswith("cctv") else self.folder

    def load(self, variant: str) -> dict[str, np.ndarray]:
        path = self.folder_of(variant) / f"{variant}.npz"
        if not path.is_file():
            return {}
        with np.load(path, allow_pickle=False) as data:
            return dict(zip(data["keys"].tolist(), data["vectors"], strict=True))

    def save(self, variant: str, vectors: dict[str, np.ndarray]) -> None:
        folder = self.folder_of(variant)
        folder.mkdir(parents=True, exist_ok=True)
        keys = sorted(vectors)
        tmp = folder / f"{variant}.tmp.npz"
        np.savez(tmp, keys=np.array(keys), vectors=np.stack([vectors[k] for k in keys]))
        tmp.replace(folder / f"{variant}.npz")
