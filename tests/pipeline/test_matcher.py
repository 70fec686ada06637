"""Matcher: cosine threshold, top-k, one result per subject, and ONLY allowed entries."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from vigil.errors import ConfigError
from vigil.pipeline.matcher import GallerySnapshot, Matcher, NumpyIndex, create_index
from vigil.types import Embedding, GalleryEntry

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
DIM = 8


def unit(i: int, noise: float = 0.0, seed: int = 0) -> np.ndarray:
    v = np.zeros(DIM, np.float32)
    v[i] = 1.0
    v += np.random.default_rng(seed).normal(0, noise, DIM).astype(np.float32)
    return (v / np.linalg.norm(v)).astype(np.float32)


def entry(
    tid: int,
    subject: int,
    *,
    cameras: tuple[str, ...] | None = None,
    start: float = -10,
    end: float = 10,
) -> GalleryEntry:
    return GalleryEntry(
        template_id=tid,
        subject_id=subject,
        subject_name=f"s{subject}",
        watchlist_id=1,
        watchlist_name="wl",
        authorization_id=1,
        authorization_reference="ORD",
        valid_from=NOW + timedelta(days=start),
        expires_at=NOW + timedelta(days=end),
        cameras=cameras,
    )


class Static:
    def __init__(
        self,
        entries: list[GalleryEntry],
        vectors: list[np.ndarray],
        threshold: float = 0.5,
        index: str = "numpy",
    ) -> None:
        idx = create_index(index)
        idx.build(np.stack(vectors))
        self.snap = GallerySnapshot(tuple(entries), idx, threshold, "test")

    def snapshot(self) -> GallerySnapshot:
        return self.snap


def probe(i: int, noise: float = 0.0) -> list[Embedding]:
    return [Embedding(unit(i, noise, seed=7), "test")]


@pytest.mark.parametrize(
    ("cameras", "start", "end", "camera", "matched"),
    [
        (None, -1, 1, "cam1", True),  # all cameras, in window
        (("cam1",), -1, 1, "cam1", True),  # scoped to this camera
        (("cam2",), -1, 1, "cam1", False),  # scoped to another camera
        (("cam1", "cam2"), -1, 1, "cam2", True),
        (None, -10, -1, "cam1", False),  # expired
        (None, 1, 10, "cam1", False),  # not valid yet
        (None, -1, 0, "cam1", False),  # expires exactly now: not allowed
        (None, 0, 1, "cam1", True),  # valid from exactly now
    ],
)
def test_only_entries_allowed_for_camera_and_time_match(
    cameras, start, end, camera, matched
) -> None:
    gallery = Static([entry(1, 1, cameras=cameras, start=start, end=end)], [unit(0)])
    result = Matcher(gallery, top_k=3).match(probe(0), camera, NOW)
    assert bool(result) is matched


def test_disallowed_entry_never_crowds_out_an_allowed_one() -> None:
    # Ten out-of-scope templates closer to the probe than the one allowed entry.
    entries = [entry(i, i, cameras=("other",)) for i in range(1, 11)] + [entry(99, 99)]
    vectors = [unit(0)] * 10 + [unit(0, noise=0.2, seed=3)]
    result = Matcher(Static(entries, vectors, threshold=0.3), top_k=1).match(probe(0), "cam1", NOW)
    assert [m.entry.template_id for m in result] == [99]


def test_threshold_top_k_and_one_result_per_subject() -> None:
    entries = [entry(1, 1), entry(2, 1), entry(3, 2), entry(4, 3), entry(5, 4)]
    vectors = [unit(0), unit(0, 0.3, 1), unit(0, 0.4, 2), unit(0, 0.6, 3), unit(5)]
    gallery = Static(entries, vectors, threshold=0.5)
    result = Matcher(gallery, top_k=2).match(probe(0), "cam1", NOW)
    assert len(result) <= 2
    assert result[0].entry.subject_id == 1
    assert len({m.entry.subject_id for m in result}) == len(result)
    assert all(m.score >= 0.5 for m in result)
    assert result == sorted(result, key=lambda m: -m.score)
    assert Matcher(gallery, top_k=5).match(probe(5), "cam1", NOW)[0].entry.subject_id == 4
    assert Matcher(gallery, top_k=5).match(probe(7), "cam1", NOW) == []  # below threshold


def test_a_tracks_shots_are_averaged_into_one_probe() -> None:
    gallery = Static([entry(1, 1)], [unit(0)], threshold=0.6)
    half = (unit(0) + unit(1)) / np.linalg.norm(unit(0) + unit(1))
    one = Matcher(gallery, 3).match([Embedding(half.astype(np.float32), "t")], "cam1", NOW)
    two = Matcher(gallery, 3).match(
        [Embedding(half.astype(np.float32), "t"), Embedding(unit(0), "t")], "cam1", NOW
    )
    assert one and two and two[0].score > one[0].score


def test_empty_gallery_and_no_embeddings_give_no_match() -> None:
    empty = NumpyIndex()
    empty.build(np.zeros((0, DIM), np.float32))

    class Empty:
        def snapshot(self) -> GallerySnapshot:
            return GallerySnapshot((), empty, 0.5, "t")

    assert Matcher(Empty(), 3).match(probe(0), "cam1", NOW) == []
    assert Matcher(Static([entry(1, 1)], [unit(0)]), 3).match([], "cam1", NOW) == []


def test_numpy_index_ranks_exactly() -> None:
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(50, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = NumpyIndex()
    index.build(vectors)
    (result,) = index.search(vectors[7:8], 5)
    assert result.rows[0] == 7
    expected = np.argsort(-(vectors @ vectors[7]))[:5]
    assert list(result.rows) == list(expected)
    with pytest.raises(ValueError, match="dimension"):
        index.search(np.zeros((1, DIM + 1), np.float32), 3)


def test_faiss_index_missing_is_a_config_error_not_a_fallback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "faiss", None)  # makes `import faiss` raise ImportError
    with pytest.raises(ConfigError, match=r"matching\.index.*faiss.*not installed"):
        create_index("faiss")


def test_unknown_index_name_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown index"):
        create_index("annoy")


def test_faiss_index_agrees_with_numpy_when_installed() -> None:
    pytest.importorskip("faiss")
    rng = np.random.default_rng(2)
    vectors = rng.normal(size=(40, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    a, b = create_index("numpy"), create_index("faiss")
    a.build(vectors)
    b.build(vectors)
    ra, rb = a.search(vectors[:3], 4), b.search(vectors[:3], 4)
    assert len(ra) == 3, "one result per query"
    for x, y in zip(ra, rb, strict=True):
        assert list(x.rows) == list(y.rows)
        np.testing.assert_allclose(x.scores, y.scores, atol=1e-5)
