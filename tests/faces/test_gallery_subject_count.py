"""FilteredGallery.subject_count: distinct subjects over every partition, after every change."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta

import numpy as np

from vigil.faces.gallery import FilteredGallery, Scope
from vigil.types import GalleryEntry

T0 = datetime(2026, 6, 1, tzinfo=UTC)


def entry(template: int, subject: int, auth: int, cameras=None) -> GalleryEntry:
    return GalleryEntry(
        template, subject, f"s{subject}", auth, f"w{auth}", auth, f"A{auth}", T0,
        T0 + timedelta(days=1), cameras,
    )  # fmt: skip


def vectors(n: int) -> np.ndarray:
    v = np.random.default_rng(n).normal(size=(n, 8)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_counts_distinct_subjects_across_partitions_and_follows_changes() -> None:
    gallery = FilteredGallery()
    assert gallery.subject_count() == 0
    # subject 1 has two templates; subject 2 is in two authorizations (two partitions)
    entries = [entry(1, 1, 1), entry(2, 1, 1), entry(3, 2, 1), entry(4, 2, 2, ("c1",))]
    gallery.add(entries, vectors(4))
    assert gallery.subject_count() == 2
    gallery.add([entry(5, 3, 2, ("c1",))], vectors(1))
    assert gallery.subject_count() == 3
    gallery.remove([1])
    assert gallery.subject_count() == 3  # subject 1 keeps template 2
    gallery.remove([2])
    assert gallery.subject_count() == 2
    gallery.drop_authorization(2)
    assert gallery.subject_count() == 1
    gallery.rescope(Scope(1, T0, T0 + timedelta(days=2), None))
    assert gallery.subject_count() == 1


def test_the_count_survives_a_pickle_round_trip() -> None:
    gallery = FilteredGallery()
    gallery.add([entry(1, 1, 1), entry(2, 2, 1)], vectors(2))
    assert gallery.subject_count() == 2
    copy = pickle.loads(pickle.dumps(gallery))
    assert copy.subject_count() == 2
    copy.remove([2])
    assert (copy.subject_count(), gallery.subject_count()) == (1, 2)
