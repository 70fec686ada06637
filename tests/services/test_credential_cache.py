"""The credential cache (vigil.services.credential_cache): bounded age, and a change wins.

A fake clock replaces time; nothing here waits.
"""

from __future__ import annotations

import pytest

from vigil.services.credential_cache import MAX_TTL_SECONDS, CredentialCache, credential_key


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_an_entry_lives_at_most_ttl_seconds() -> None:
    clock = Clock()
    cache: CredentialCache[str] = CredentialCache(1.5, clock=clock)
    assert cache.put("k", "alice", cache.generation)
    clock.now += 1.49
    assert cache.get("k") == "alice"
    clock.now += 0.01
    assert cache.get("k") is None
    assert len(cache) == 0


def test_invalidate_forgets_everything() -> None:
    cache: CredentialCache[str] = CredentialCache(2.0, clock=Clock())
    cache.put("a", "alice", cache.generation)
    cache.put("b", "bob", cache.generation)
    cache.invalidate()
    assert (cache.get("a"), cache.get("b"), len(cache)) == (None, None, 0)


def test_an_answer_read_before_a_change_is_not_kept() -> None:
    """A lookup that read the database, then a revocation commits: its answer must not stay."""
    cache: CredentialCache[str] = CredentialCache(2.0, clock=Clock())
    generation = cache.generation  # the lookup starts
    with cache.changing():  # the revocation commits meanwhile
        pass
    assert not cache.put("k", "stale", generation)
    assert cache.get("k") is None
    assert cache.put("k", "fresh", cache.generation)  # a lookup after the change is kept


def test_changing_invalidates_also_when_the_write_fails() -> None:
    cache: CredentialCache[str] = CredentialCache(2.0, clock=Clock())
    cache.put("k", "alice", cache.generation)
    with pytest.raises(RuntimeError), cache.changing():
        raise RuntimeError("the write failed")
    assert cache.get("k") is None


def test_zero_ttl_keeps_nothing_and_the_bound_is_enforced() -> None:
    off: CredentialCache[str] = CredentialCache(0)
    assert not off.put("k", "alice", off.generation)
    assert off.get("k") is None
    with pytest.raises(ValueError, match="0 to 2"):
        CredentialCache(MAX_TTL_SECONDS + 0.1)


def test_the_oldest_entry_goes_when_full() -> None:
    cache: CredentialCache[int] = CredentialCache(2.0, max_entries=2, clock=Clock())
    for i in range(3):
        cache.put(f"k{i}", i, cache.generation)
    assert (cache.get("k0"), cache.get("k1"), cache.get("k2")) == (None, 1, 2)


def test_keys_name_the_kind_and_never_hold_the_secret() -> None:
    key = credential_key("token", "vgl_secret-value")
    assert key.startswith("token:") and "secret-value" not in key
    assert key != credential_key("session", "vgl_secret-value")
