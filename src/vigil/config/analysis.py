"""Settings of the analysis of camera faces: quality gate, tracking and gallery matching."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from vigil.config.base import StrictSection


class QualityConfig(StrictSection):
    min_face_px: int = Field(
        36,
        ge=8,
        le=1000,
        description="smallest face worth embedding or enrolling, in pixels of face width "
        "measured from the landmarks (2.5 x the distance between the eye centres, "
        "vigil.faces.geometry.face_size_px), the same for every model pack",
    )
    min_sharpness: float = Field(
        20.0, ge=0.0, description="Laplacian variance below which a face is blurred"
    )
    max_yaw_ratio: float = Field(
        0.6, ge=0.0, le=1.0, description="pose limit from landmark asymmetry"
    )
    min_score: float = Field(
        0.35, ge=0.0, le=1.0, description="combined quality needed to embed a track"
    )
    enroll_second_opinion: bool = Field(
        True,
        description="enrollment photos: ask the other model pack's detector (where installed) "
        "whether the face is a human face (refuses animals and drawings as not_a_face)",
    )


class TrackingConfig(StrictSection):
    iou_threshold: float = Field(
        0.25, ge=0.0, le=1.0, description="box overlap to continue a track"
    )
    max_gap_seconds: float = Field(
        1.0, gt=0.0, le=30.0, description="a track ends after this long unseen"
    )
    best_shots: int = Field(3, ge=1, le=10, description="best shots per track that are embedded")
    decide_after_seconds: float = Field(
        1.0, gt=0.0, le=60.0, description="a track's one match decision is made after this long"
    )
    passage_gap_seconds: float = Field(
        10.0,
        ge=0.0,
        le=600.0,
        description="a person matched again on the same camera this soon continues an alert",
    )

    @model_validator(mode="before")
    @classmethod
    def _moved_keys(cls, data: Any) -> Any:
        """``tracking.early_margin`` became a per-pack setting: refused with where it went."""
        if isinstance(data, dict) and "early_margin" in data:
            raise PydanticCustomError(
                "moved_key",
                "tracking.early_margin was replaced by one margin per model pack: "
                "dlib.early_margin (default 0.6) and onnx.early_margin (default 0.06); move "
                "the value under the pack it was chosen for (0.06 lets 65 % of strangers alert "
                "early with dlib at N = 1,000), or delete it to keep the defaults",
            )
        return data


class MatchingConfig(StrictSection):
    top_k: int = Field(3, ge=1, le=50, description="candidates returned per probe")
    index: Literal["auto", "numpy", "hnsw", "usearch", "ivf", "pqfs", "faiss"] = Field(
        "auto",
        description="gallery index per authorization: auto (exact below 20,000 entries, then "
        "pqfs: chosen by measurement, README 'Gallery index'), numpy (exact), hnsw (hnswlib), "
        "usearch (HNSW), ivf (faiss IVF), pqfs (faiss 4-bit PQ fast scan of every template, "
        "64 sub-quantizers, then exact re-rank of the best 64 on float16 vectors; recall@1 "
        "1.000 at 1M x 128) or faiss (exact faiss)",
    )
    gallery_snapshot: bool = Field(
        True,
        description="the command center keeps its built gallery index, encrypted, in "
        "HOME/gallery/ and loads it at start instead of rebuilding (then applies what changed)",
    )
    gallery_snapshot_max_age_hours: float = Field(
        168.0,
        gt=0.0,
        le=8760.0,
        description="an older gallery snapshot is ignored: the gallery is built from the database",
    )
    gallery_refresh_seconds: float = Field(
        1.0,
        gt=0.0,
        le=60.0,
        description="how often running cameras look for gallery changes (enrolled, removed, "
        "revoked entries; applied in place)",
    )
    gallery_reconcile_seconds: float = Field(
        300.0,
        gt=0.0,
        le=86_400.0,
        description="how often the running gallery checks every template id against the "
        "database (safety net)",
    )
