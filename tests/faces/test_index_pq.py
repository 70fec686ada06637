"""The pqfs gallery index: PQ fast scan of every code, exact float16 re-rank.

Compared with exact search on small random galleries (recall@1 and the scores of what it
returns), removal (tombstones, compaction) never returns a removed entry, snapshots round-trip,
``matching.index: pqfs`` is accepted and an unknown kind is not; a property test runs random
add/remove sequences against the exact index.
"""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from vigil.config import MatchingConfig
from vigil.errors import ConfigError
from vigil.faces.gallery import FilteredGallery
from vigil.faces.index import ExactIdIndex, IndexPolicy, new_index
from vigil.faces.index_pq import PqfsIdIndex, sub_quantizers
from vigil.types import GalleryEntry

DIM = 128
F16 = 2e-3  # float16 storage: scores agree with float32 to about this


def unit_rows(n: int, seed: int, dim: int = DIM) -> np.ndarray:
    rows = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def noisy(vectors: np.ndarray, seed: int, sigma: float = 0.08) -> np.ndarray:
    rng = np.random.default_rng(seed)
    probes = vectors + rng.normal(0, sigma, vectors.shape).astype(np.float32)
    return probes / np.linalg.norm(probes, axis=1, keepdims=True)


def both(n: int, seed: int, policy: IndexPolicy) -> tuple[PqfsIdIndex, ExactIdIndex, np.ndarray]:
    """A pqfs index and an exact one holding the same ``n`` random entries (ids 1000...)."""
    vectors = unit_rows(n, seed)
    pq, exact = PqfsIdIndex(DIM, policy), ExactIdIndex(DIM)
    ids = np.arange(1000, 1000 + n)
    for lo in range(0, n, 700):  # in batches, as the service adds
        pq.add(ids[lo : lo + 700], vectors[lo : lo + 700])
        exact.add(ids[lo : lo + 700], vectors[lo : lo + 700])
    return pq, exact, vectors


def assert_agrees(pq: PqfsIdIndex, exact: ExactIdIndex, probes: np.ndarray, k: int = 5) -> None:
    """Top-1 equals exact's on >= 99 % of probes; every returned score is the exact cosine."""
    agree = 0
    for probe in probes:
        got, want = pq.search(probe, k), exact.search(probe, k)
        agree += int(got.rows[0] == want.rows[0])
        truth = exact.vectors_of(got.rows) @ probe
        np.testing.assert_allclose(got.scores, truth, atol=F16)
        assert np.all(np.diff(got.scores) <= 0), "best first"
    assert agree >= 0.99 * len(probes)


def test_search_matches_exact_search_on_a_few_thousand_entries() -> None:
    pq, exact, vectors = both(4000, 1, IndexPolicy(kind="pqfs"))
    assert pq.trained, "the PQ scan is what is tested, not the exact fallback"
    assert len(pq) == 4000
    assert_agrees(pq, exact, noisy(vectors[::20], 2))


def test_search_at_512_dimensions_matches_exact_search() -> None:
    vectors = unit_rows(3000, 3, 512)
    pq, exact = PqfsIdIndex(512, IndexPolicy(kind="pqfs")), ExactIdIndex(512)
    pq.add(np.arange(3000), vectors)
    exact.add(np.arange(3000), vectors)
    assert pq.trained
    assert_agrees(pq, exact, noisy(vectors[::30], 4))


def test_quantizer_retrains_as_the_partition_grows() -> None:
    pq, _, _ = both(4000, 5, IndexPolicy(kind="pqfs", pq_train_min=500, pq_train_sample=3000))
    # trained at 700 rows (first batch over 500), retrained at 2800 (4x) on its 2800 rows
    assert pq._trained_on == 2800


def test_removed_entries_are_never_returned_tombstoned_or_compacted() -> None:
    for fraction in (0.9, 0.2):  # 0.9: tombstones stay; 0.2: removal compacts
        policy = IndexPolicy(kind="pqfs", pq_rebuild_fraction=fraction)
        pq, exact, vectors = both(3000, 6, policy)
        gone = np.random.default_rng(7).choice(np.arange(1000, 4000), 900, replace=False)
        pq.remove([*gone.tolist(), 99_999])  # unknown ids are ignored
        exact.remove(gone.tolist())
        assert (pq.tombstones > 0) == (fraction == 0.9)
        assert len(pq) == 2100
        removed = set(gone.tolist())
        for probe in vectors[gone[:100] - 1000]:  # probes equal to removed vectors
            assert not removed & set(pq.search(probe, 50).rows.tolist())
        assert sorted(pq.ids().tolist()) == sorted(exact.ids().tolist())
        assert_agrees(pq, exact, noisy(vectors[::30], 8))


def test_readding_and_replacing_by_id() -> None:
    pq, _, vectors = both(2000, 9, IndexPolicy(kind="pqfs", pq_rebuild_fraction=0.9))
    pq.remove([1007])
    assert 1007 not in pq.search(vectors[7], 10).rows.tolist()
    pq.add(np.array([1007]), vectors[7:8])  # back in
    pq.add(np.array([1009]), vectors[0:1])  # replaced: now the vector of 1000
    assert len(pq) == 2000
    assert pq.search(vectors[7], 1).rows.tolist() == [1007]
    assert set(pq.search(vectors[0], 2).rows.tolist()) == {1000, 1009}
    np.testing.assert_allclose(pq.vectors_of(np.array([1009])), vectors[0:1], atol=1e-3)


def test_search_asks_for_more_than_is_live() -> None:
    pq, _, vectors = both(1500, 10, IndexPolicy(kind="pqfs", pq_rebuild_fraction=0.999))
    pq.remove(range(1000, 2490))  # 10 live, 1490 tombstones
    assert pq.tombstones == 1490
    result = pq.search(vectors[1495], 50)
    assert sorted(result.rows.tolist()) == list(range(2490, 2500))
    assert result.rows[0] == 2495
    pq.remove(range(2490, 2500))
    assert pq.search(vectors[0], 5).rows.shape == (0,)


def test_pickle_round_trip_keeps_results_and_stays_changeable() -> None:
    pq, _, vectors = both(3000, 11, IndexPolicy(kind="pqfs", pq_rebuild_fraction=0.9))
    pq.remove(range(1000, 1100))
    probes = noisy(vectors[::40], 12)
    again = pickle.loads(pickle.dumps(pq))
    assert again.tombstones == pq.tombstones == 100
    for probe in probes:
        a, b = pq.search(probe, 5), again.search(probe, 5)
        assert a.rows.tolist() == b.rows.tolist()
        np.testing.assert_array_equal(a.scores, b.scores)
    again.add(np.array([1000]), vectors[0:1])
    again.remove([1200])
    assert again.search(vectors[0], 1).rows.tolist() == [1000]
    assert 1200 not in again.search(vectors[200], 10).rows.tolist()


def test_gallery_snapshot_with_pqfs_partitions_round_trips() -> None:
    t0 = datetime(2026, 6, 1, tzinfo=UTC)
    entries = [
        GalleryEntry(
            template_id=t,
            subject_id=t,
            subject_name=f"s{t}",
            watchlist_id=t % 2,
            watchlist_name="wl",
            authorization_id=t % 2,
            authorization_reference=f"A{t % 2}",
            valid_from=t0 - timedelta(days=1),
            expires_at=t0 + timedelta(days=1),
            cameras=None if t % 2 else ("c2",),
        )
        for t in range(3000)
    ]
    vectors = unit_rows(3000, 13)
    gallery = FilteredGallery(IndexPolicy(kind="auto", exact_below=1000))
    gallery.add(entries, vectors)
    assert {type(p.index) for p in gallery._parts.values()} == {PqfsIdIndex}
    _, loaded = FilteredGallery.load(gallery.dump("header"))
    for probe in noisy(vectors[1::60], 14):
        a, b = gallery.search(probe, "c1", t0, 3), loaded.search(probe, "c1", t0, 3)
        assert [h.entry.template_id for h in a] == [h.entry.template_id for h in b]
        assert all(h.entry.template_id % 2 for h in b), "c2-only entries are out of scope"


def test_config_accepts_pqfs_and_rejects_an_unknown_index() -> None:
    assert MatchingConfig(index="pqfs").index == "pqfs"
    with pytest.raises(ValidationError):
        MatchingConfig(index="pqfs4")  # type: ignore[arg-type]
    assert isinstance(new_index(DIM, 0, IndexPolicy(kind="pqfs")), PqfsIdIndex)
    with pytest.raises(ConfigError, match="unknown index"):
        new_index(DIM, 0, IndexPolicy(kind="pqfs4"))


def test_auto_picks_pqfs_from_exact_below() -> None:
    policy = IndexPolicy(kind="auto")
    assert policy.ann_kind(policy.exact_below - 1) is None
    assert policy.ann_kind(policy.exact_below) == "pqfs"
    assert isinstance(new_index(DIM, 20_000, policy), PqfsIdIndex)


def test_sub_quantizers_divide_the_dimension() -> None:
    assert sub_quantizers(128, 64) == 64
    assert sub_quantizers(512, 64) == 64
    assert sub_quantizers(100, 64) == 50
    assert sub_quantizers(16, 64) == 16
    assert sub_quantizers(7, 64) == 7


ops = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(0, 399), st.integers(1, 150)),
        st.tuples(st.just("remove"), st.integers(0, 399), st.integers(1, 150)),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=ops, fraction=st.sampled_from([0.1, 0.5, 0.95]), seed=st.integers(0, 2**16))
def test_random_adds_and_removes_behave_like_the_exact_index(ops, fraction, seed) -> None:
    dim = 16
    pool = unit_rows(400, seed, dim)
    policy = IndexPolicy(kind="pqfs", pq_train_min=64, pq_rerank=16, pq_rebuild_fraction=fraction)
    pq, exact = PqfsIdIndex(dim, policy), ExactIdIndex(dim)
    version = np.zeros(400, np.int64)  # re-adds store another vector under the same id
    for op, start, count in ops:
        ids = np.arange(start, min(start + count, 400))
        if op == "add":
            version[ids] += 1
            vectors = np.roll(pool, 7 * int(version[ids[0]]), axis=0)[ids]
            pq.add(ids, vectors)
            exact.add(ids, vectors)
        else:
            pq.remove(ids.tolist())
            exact.remove(ids.tolist())
        live = set(exact.ids().tolist())
        assert set(pq.ids().tolist()) == live and len(pq) == len(live)
        for probe in pool[::50]:
            got = pq.search(probe, 8)
            assert set(got.rows.tolist()) <= live
            assert got.rows.shape[0] == min(8, len(live))
            if got.rows.shape[0]:
                truth = exact.vectors_of(got.rows) @ probe
                np.testing.assert_allclose(got.scores, truth, atol=F16)
                if not pq.trained:  # exact until pq_train_min entries
                    want = exact.search(probe, 8).scores
                    np.testing.assert_allclose(got.scores, want, atol=F16)


def test_a_policy_pickled_before_the_pq_fields_loads_and_is_another_policy() -> None:
    # IndexPolicy's pickled state as an older snapshot holds it (auto switched to usearch then)
    old = ["auto", 20_000, "usearch", 32, 200, 128, "f16", 1024, 24, 2]
    policy = IndexPolicy.__new__(IndexPolicy)
    policy.__setstate__(old)
    assert policy.ann == "usearch" and policy.build_threads == 2
    assert policy.pq_m == IndexPolicy().pq_m  # missing fields take their defaults
    assert policy != IndexPolicy()  # so the snapshot service rebuilds instead of crashing
    current = IndexPolicy(kind="pqfs", pq_rerank=32)
    assert pickle.loads(pickle.dumps(current)) == current


def test_an_index_unpickled_into_read_only_arrays_can_still_change() -> None:
    pq, _, vectors = both(1500, 15, IndexPolicy(kind="pqfs", pq_rebuild_fraction=0.9))
    state = pq.__getstate__()
    for name in ("vectors", "ids", "dead"):  # as zero-copy unpickling (Ray) hands them over
        state[name] = state[name].copy()
        state[name].flags.writeable = False
    again = PqfsIdIndex.__new__(PqfsIdIndex)
    again.__setstate__(state)
    again.remove([1003])
    assert 1003 not in again.search(vectors[3], 10).rows.tolist()
