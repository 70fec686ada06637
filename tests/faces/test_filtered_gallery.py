"""FilteredGallery: the authorization filter is applied inside the search, by property.

Random authorizations (camera scopes, validity windows), random entries and random probe
(camera, time) pairs: the filtered search is compared with a brute-force filter over every
entry's ``GalleryEntry.allows``. An entry that is expired, not yet valid, revoked (its
authorization dropped) or out of scope must never be returned; in exact mode the ranking
equals the brute force; in ANN mode (HNSW, IVF) recall@1 holds on small galleries.
"""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vigil.faces.gallery import FilteredGallery, GallerySnapshot, Scope
from vigil.faces.index import ExactIdIndex, IndexPolicy, new_index
from vigil.faces.index_pq import PqfsIdIndex
from vigil.types import GalleryEntry

T0 = datetime(2026, 6, 1, tzinfo=UTC)
CAMERAS = ("c1", "c2", "c3")
DIM = 16

scopes = st.tuples(
    st.integers(-5, 5),  # valid_from, days from T0
    st.integers(1, 8),  # length in days
    st.one_of(st.none(), st.sets(st.sampled_from(CAMERAS), min_size=1).map(tuple)),
)


def make_entries(auths: list[tuple[int, int, tuple[str, ...] | None]], owners: list[int]):
    out = []
    for tid, owner in enumerate(owners, start=1):
        start, days, cameras = auths[owner % len(auths)]
        out.append(
            GalleryEntry(
                template_id=tid,
                subject_id=tid,
                subject_name=f"s{tid}",
                watchlist_id=owner % len(auths),
                watchlist_name="wl",
                authorization_id=owner % len(auths),
                authorization_reference=f"A{owner % len(auths)}",
                valid_from=T0 + timedelta(days=start),
                expires_at=T0 + timedelta(days=start + days),
                cameras=cameras,
            )
        )
    return out


def unit_rows(n: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def brute_force(entries, vectors, probe, camera, at, revoked):
    allowed = [
        i
        for i, e in enumerate(entries)
        if e.allows(camera, at) and e.authorization_id not in revoked
    ]
    scores = vectors[allowed] @ probe
    order = np.argsort(-scores, kind="stable")
    return [entries[allowed[i]].template_id for i in order], scores[order]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    auths=st.lists(scopes, min_size=1, max_size=5),
    owners=st.lists(st.integers(0, 20), min_size=1, max_size=40),
    probes=st.lists(
        st.tuples(st.sampled_from(CAMERAS), st.integers(-6, 14)), min_size=1, max_size=6
    ),
    revoke=st.sets(st.integers(0, 4), max_size=2),
    removed=st.sets(st.integers(1, 40), max_size=5),
    seed=st.integers(0, 2**16),
)
def test_exact_filtered_search_equals_brute_force_filter(
    auths, owners, probes, revoke, removed, seed
) -> None:
    entries = make_entries(auths, owners)
    vectors = unit_rows(len(entries), seed)
    gallery = FilteredGallery(IndexPolicy(kind="numpy"))
    gallery.add(entries, vectors)
    for auth_id in revoke:
        gallery.drop_authorization(auth_id)
    gallery.remove(removed)
    keep = [i for i, e in enumerate(entries) if e.template_id not in removed]
    entries, vectors = [entries[i] for i in keep], vectors[keep]
    for n, (camera, hour_offset) in enumerate(probes):
        at = T0 + timedelta(hours=12 * hour_offset)
        probe = unit_rows(1, seed + n + 1)[0]
        expected_ids, expected_scores = brute_force(entries, vectors, probe, camera, at, revoke)
        hits = gallery.search(probe, camera, at, k=len(entries) + 1)
        for hit in hits:  # never an entry that is expired, not yet valid, revoked or out of scope
            assert hit.entry.allows(camera, at)
            assert hit.entry.authorization_id not in revoke
            assert hit.entry.template_id not in removed
        assert len(hits) == len(expected_ids)
        np.testing.assert_allclose([h.score for h in hits], expected_scores, atol=1e-5)
        if expected_ids:
            assert np.isclose(hits[0].score, expected_scores[0], atol=1e-6)  # top-1 agrees
            top = gallery.search(probe, camera, at, k=1)
            assert top[0].entry.template_id in {
                t
                for t, s in zip(expected_ids, expected_scores, strict=True)
                if s >= expected_scores[0] - 1e-6
            }


@pytest.mark.parametrize("kind", ["hnsw", "usearch", "ivf", "pqfs"])
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    auths=st.lists(scopes, min_size=1, max_size=4),
    seed=st.integers(0, 2**16),
    camera=st.sampled_from(CAMERAS),
    hour=st.integers(-6, 14),
)
def test_ann_filtered_search_never_leaks_and_keeps_recall(kind, auths, seed, camera, hour) -> None:
    rng = np.random.default_rng(seed)
    owners = rng.integers(0, 50, 600).tolist()
    entries = make_entries(auths, owners)
    vectors = unit_rows(len(entries), seed)
    policy = IndexPolicy(kind=kind, ivf_lists=8, ivf_probes=8, pq_train_min=64)
    gallery = FilteredGallery(policy)
    gallery.add(entries, vectors)
    at = T0 + timedelta(hours=12 * hour)
    agree = total = 0
    for n in range(30):  # probes: noisy copies of random entries
        probe = vectors[rng.integers(len(entries))] + rng.normal(0, 0.05, DIM).astype(np.float32)
        probe /= np.linalg.norm(probe)
        expected, _ = brute_force(entries, vectors, probe, camera, at, set())
        hits = gallery.search(probe, camera, at, k=5)
        assert all(h.entry.allows(camera, at) for h in hits)
        assert not expected or hits, f"probe {n}: allowed entries exist but none was found"
        if expected:
            total += 1
            agree += hits[0].entry.template_id == expected[0]
    assert total == 0 or agree / total >= 0.9


@pytest.mark.parametrize("kind", ["numpy", "hnsw", "usearch", "pqfs", "faiss"])
def test_index_adds_removes_and_replaces_by_id(kind: str) -> None:
    if kind == "faiss":
        pytest.importorskip("faiss")
    vectors = unit_rows(50, 3)
    index = new_index(DIM, 50, IndexPolicy(kind=kind))
    index.add(np.arange(100, 150), vectors)
    assert len(index) == 50
    assert index.search(vectors[7], 1).rows.tolist() == [107]
    index.remove([107, 108, 999])
    assert len(index) == 48
    assert 107 not in index.search(vectors[7], 48).rows.tolist()
    index.add(np.array([107]), vectors[7:8])  # back in (HNSW reuses the tombstone)
    index.add(np.array([109]), vectors[0:1])  # replaced by id: now the vector of 100
    assert len(index) == 49
    assert set(index.search(vectors[0], 2).rows.tolist()) == {100, 109}
    assert sorted(index.ids().tolist()) == sorted({*range(100, 150)} - {108})
    stored = index.vectors_of(np.array([107]))
    np.testing.assert_allclose(
        stored, vectors[7:8], atol=1e-3 if kind in ("usearch", "pqfs") else 1e-6
    )
    again = pickle.loads(pickle.dumps(index))
    assert again.search(vectors[7], 1).rows.tolist() == [107]


def test_auto_switches_a_growing_partition_to_ann_and_keeps_every_entry() -> None:
    policy = IndexPolicy(kind="auto", exact_below=100)
    gallery = FilteredGallery(policy)
    entries = make_entries([(-1, 5, None)], [0] * 150)
    vectors = unit_rows(150, 4)
    gallery.add(entries[:90], vectors[:90])
    (part,) = gallery._parts.values()
    assert isinstance(part.index, ExactIdIndex)
    gallery.add(entries[90:], vectors[90:])
    (part,) = gallery._parts.values()
    assert isinstance(part.index, PqfsIdIndex)  # the ANN the trial chose (README)
    assert len(gallery) == 150
    assert gallery.search(vectors[3], "c1", T0, 1)[0].entry.template_id == 4


def test_rescope_moves_entries_and_a_snapshot_pickles() -> None:
    entries = make_entries([(-1, 5, ("c1",))], [0, 0, 0])
    gallery = FilteredGallery(IndexPolicy(kind="numpy"))
    gallery.add(entries, unit_rows(3, 5))
    assert gallery.search(unit_rows(1, 6)[0], "c2", T0, 3) == []
    gallery.rescope(Scope(0, T0 - timedelta(days=1), T0 + timedelta(days=5), ("c2",)))
    hits = gallery.search(unit_rows(1, 6)[0], "c2", T0, 3)
    assert len(hits) == 3 and all(h.entry.cameras == ("c2",) for h in hits)
    assert gallery.search(unit_rows(1, 6)[0], "c1", T0, 3) == []
    snap = pickle.loads(pickle.dumps(GallerySnapshot.of(gallery, 0.5, "p")))
    assert snap.size == 3 and snap.threshold == 0.5
    assert len(snap.search(unit_rows(1, 6)[0], "c2", T0, 3)) == 3
    assert gallery.drop_authorization(0) == 3 and len(gallery) == 0


def test_wrong_dimension_is_refused() -> None:
    gallery = FilteredGallery()
    gallery.add(make_entries([(-1, 5, None)], [0]), unit_rows(1, 1))
    with pytest.raises(ValueError, match="dimension"):
        gallery.search(np.ones(DIM + 1, np.float32), "c1", T0, 1)
    with pytest.raises(ValueError, match="shape"):
        gallery.add(make_entries([(-1, 5, None)], [0, 0]), np.ones((2, DIM + 1), np.float32))


@pytest.mark.parametrize(("h", "w", "expected"), [(1000, 800, (320, 256)), (100, 60, (100, 60))])
def test_the_enrolled_photo_is_kept_at_face_crop_size(h: int, w: int, expected) -> None:
    from vigil.imaging import decode_image
    from vigil.services.enrollment import stored_photo

    crop = np.random.default_rng(0).integers(0, 255, (h, w, 3), dtype=np.uint8)
    kept = decode_image(stored_photo(crop), name="crop", max_bytes=10**7, max_pixels=10**7)
    assert kept.shape[:2] == expected
