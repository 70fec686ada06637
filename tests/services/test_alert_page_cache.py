"""AlertPageCache: pages kept per (query, role), dropped by the events that can change them."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime

import pytest

from vigil.domain.enums import AlertStatus, Purpose
from vigil.domain.events import AlertEvent, AlertPublic
from vigil.services.alert_cache import AlertPage, AlertPageCache, PageQuery

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def alert(
    alert_id: int, status: AlertStatus = AlertStatus.candidate, name: str = "Jane"
) -> AlertPublic:
    return AlertPublic(
        id=alert_id,
        camera="cam1",
        subject_id=1,
        subject_name=name,
        watchlist="wl",
        authorization_reference="ORDER-1",
        purpose=Purpose.missing_person,
        score=0.8,
        threshold=0.5,
        pack="dlib",
        status=status,
        first_seen=T0,
        last_seen=T0,
        created_at=T0,
        has_crop=True,
    )


class Loader:
    """A fake read side: newest-first pages over ``ids``; counts its calls."""

    def __init__(self, ids: list[int]) -> None:
        self.ids = sorted(ids, reverse=True)
        self.calls = 0
        self.status: dict[int, AlertStatus] = {}

    def __call__(self, q: PageQuery) -> list[AlertPublic]:
        self.calls += 1
        below = [i for i in self.ids if q.before_id is None or i < q.before_id]
        return [alert(i, self.status.get(i, AlertStatus.candidate)) for i in below[: q.limit]]


def changed(alert_id: int) -> AlertEvent:
    return AlertEvent.purged(alert_id, T0)


def ids_of(page: AlertPage) -> list[int]:
    return [a["id"] for a in json.loads(page.body)]


def get(cache: AlertPageCache, load: Loader, q: PageQuery) -> AlertPage:
    return cache.page(q, lambda: load(q))


def test_a_page_is_served_again_without_loading() -> None:
    cache, load = AlertPageCache(), Loader([1, 2, 3])
    q = PageQuery("operator", limit=2)
    first = get(cache, load, q)
    again = get(cache, load, q)
    assert ids_of(first) == [3, 2] and again is first
    assert load.calls == 1 and (cache.hits, cache.misses) == (1, 1)


def test_the_body_is_the_json_of_the_loaded_alerts() -> None:
    page = get(AlertPageCache(), Loader([7, 8]), PageQuery("operator"))
    assert json.loads(page.body) == [
        alert(8).model_dump(mode="json"),
        alert(7).model_dump(mode="json"),
    ]
    assert page.etag.startswith('"') and page.etag.endswith('"') and len(page.etag) == 34


def test_roles_never_share_a_page() -> None:
    cache = AlertPageCache()
    views = {"operator": [alert(1, name="seen by operators")], "admin": [alert(1, name="admins")]}
    op = cache.page(PageQuery("operator"), lambda: views["operator"])
    admin = cache.page(PageQuery("admin"), lambda: views["admin"])
    assert json.loads(op.body)[0]["subject_name"] == "seen by operators"
    assert json.loads(admin.body)[0]["subject_name"] == "admins"
    assert cache.page(PageQuery("operator"), lambda: []) is op
    assert len(cache) == 2


# (page query, changed alert id, dropped?) over alerts 1..10, pages of 3
WINDOWS = [
    (PageQuery("operator", limit=3), 11, True),  # a new candidate lands on the first page
    (PageQuery("operator", limit=3), 9, True),  # shown on it
    (PageQuery("operator", limit=3), 7, False),  # below a full page
    (PageQuery("operator", limit=3, before_id=8), 11, False),  # a new alert is above it
    (PageQuery("operator", limit=3, before_id=8), 8, False),  # before_id itself is excluded
    (PageQuery("operator", limit=3, before_id=8), 5, True),
    (PageQuery("operator", limit=3, before_id=8), 4, False),
    (PageQuery("operator", limit=3, before_id=3), 1, True),  # a short page rests on all below
    (PageQuery("operator", limit=50), 1, True),
]


@pytest.mark.parametrize(("query", "alert_id", "dropped"), WINDOWS)
def test_an_event_drops_exactly_the_pages_it_can_change(
    query: PageQuery, alert_id: int, dropped: bool
) -> None:
    cache, load = AlertPageCache(), Loader(list(range(1, 11)))
    get(cache, load, query)
    cache.on_event(changed(alert_id))
    get(cache, load, query)
    assert load.calls == (2 if dropped else 1)


def test_a_status_change_reaches_a_filtered_page_it_joins() -> None:
    """A page of confirmed alerts must see alert 9 once it is confirmed, though it was not on it."""
    cache, load = AlertPageCache(), Loader(list(range(1, 11)))
    load.status = {i: AlertStatus.confirmed for i in (1, 2)}

    def confirmed(q: PageQuery) -> list[AlertPublic]:
        return [a for a in load(PageQuery(q.role, limit=100)) if a.status == q.status][: q.limit]

    q = PageQuery("operator", status=AlertStatus.confirmed, limit=50)
    assert ids_of(cache.page(q, lambda: confirmed(q))) == [2, 1]
    load.status[9] = AlertStatus.confirmed
    cache.on_event(changed(9))
    assert ids_of(cache.page(q, lambda: confirmed(q))) == [9, 2, 1]


def test_a_page_built_across_an_event_is_not_kept() -> None:
    """The read may predate the writer's commit: return it, but build again next time."""
    cache, load = AlertPageCache(), Loader([1, 2, 3])
    q = PageQuery("operator")

    def racing() -> list[AlertPublic]:
        page = load(q)
        cache.on_event(changed(2))  # committed and announced while we were reading
        return page

    cache.page(q, racing)
    get(cache, load, q)
    assert load.calls == 2


def test_a_page_built_across_an_unrelated_event_is_kept() -> None:
    cache, load = AlertPageCache(), Loader(list(range(1, 11)))
    q = PageQuery("operator", limit=3)

    def racing() -> list[AlertPublic]:
        page = load(q)
        cache.on_event(changed(2))  # far below this full page
        return page

    cache.page(q, racing)
    get(cache, load, q)
    assert load.calls == 1


def test_clear_forgets_everything() -> None:
    cache, load = AlertPageCache(), Loader([1])
    get(cache, load, PageQuery("operator"))
    cache.clear()
    get(cache, load, PageQuery("operator"))
    assert load.calls == 2


def test_pages_expire_after_max_age() -> None:
    """Changes made without an event (retention, renames) show within max_age_seconds."""
    now = [100.0]
    cache, load = AlertPageCache(max_age_seconds=2.0, clock=lambda: now[0]), Loader([1])
    q = PageQuery("operator")
    get(cache, load, q)
    now[0] += 1.9
    get(cache, load, q)
    now[0] += 0.2
    get(cache, load, q)
    assert load.calls == 2


def test_the_least_recently_used_page_goes_first() -> None:
    cache, load = AlertPageCache(max_entries=2), Loader([1, 2, 3])
    a, b, c = (PageQuery("operator", limit=n) for n in (1, 2, 3))
    get(cache, load, a)
    get(cache, load, b)
    get(cache, load, a)  # a is now the most recent
    get(cache, load, c)  # evicts b
    assert len(cache) == 2
    get(cache, load, a)
    get(cache, load, b)
    assert load.calls == 4


def test_concurrent_misses_build_the_page_once() -> None:
    cache, load = AlertPageCache(), Loader([1, 2])
    q = PageQuery("operator")
    release, entered = threading.Event(), threading.Event()

    def slow() -> list[AlertPublic]:
        entered.set()
        assert release.wait(10)
        return load(q)

    results: list[AlertPage] = []
    first = threading.Thread(target=lambda: results.append(cache.page(q, slow)))
    first.start()
    assert entered.wait(10)
    others = [
        threading.Thread(target=lambda: results.append(cache.page(q, slow))) for _ in range(5)
    ]
    for t in others:
        t.start()
    release.set()
    for t in [first, *others]:
        t.join(10)
    assert len(results) == 6 and all(r is results[0] for r in results)
    assert load.calls == 1


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        (None, False),
        ("", False),
        ('"nope"', False),
        ("{etag}", True),
        ("W/{etag}", True),
        ('"other", {etag}', True),
        ("*", True),
    ],
)
def test_if_none_match(header: str | None, matches: bool) -> None:
    page = get(AlertPageCache(), Loader([1]), PageQuery("operator"))
    value = header.format(etag=page.etag) if header is not None else None
    assert page.matches(value) is matches


def test_the_kept_bytes_stay_under_the_budget() -> None:
    one = len(get(AlertPageCache(), Loader([1]), PageQuery("operator")).body)
    cache, load = AlertPageCache(max_bytes=2 * one + 10), Loader([1, 2, 3])
    for role in ("operator", "supervisor", "admin"):
        get(cache, load, PageQuery(role, limit=1))
    assert len(cache) == 2 and cache.size_bytes <= 2 * one + 10
    get(cache, load, PageQuery("admin", limit=1))  # the newest is still kept
    assert load.calls == 3
    big = get(cache, load, PageQuery("operator", limit=3))  # larger than the whole budget
    assert ids_of(big) == [3, 2, 1] and len(cache) == 2
    get(cache, load, PageQuery("operator", limit=3))
    assert load.calls == 5
