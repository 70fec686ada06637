"""Sightings in a real headless Chromium: the alert card warns of two faces matched at once and
follows the best sighting live; the review page shows every sighting, best first, with its face."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from vigil.imaging import encode_jpeg
from vigil.services.alerts import AlertStore
from vigil.services.gallery import ActiveGallery
from vigil.timeutil import utcnow
from vigil.types import CandidateAlert, Match, SightingUpdate

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.shared]


def _candidate(entry, score: float, shade: int, start: float, end: float) -> CandidateAlert:
    """Seen from ``start`` to ``end`` seconds before now, but never before the authorization
    began (the server may have opened the case seconds ago: then the times shift forward)."""
    now = max(utcnow(), entry.valid_from + timedelta(seconds=start + 1))
    return CandidateAlert(
        camera="gate",
        first_seen=now - timedelta(seconds=start),
        last_seen=now - timedelta(seconds=end),
        match=Match(entry, score),
        crop_jpeg=encode_jpeg(np.full((60, 60, 3), shade, np.uint8)),
        captured_monotonic=0.0,
        seen_at=now - timedelta(seconds=end),
    )


def test_the_card_and_the_review_page_show_every_sighting(log_in, live_server) -> None:
    runtime = live_server.server
    ctx = runtime.context
    (entry,) = ActiveGallery(ctx.db, ctx.cipher, ctx.settings, ctx.pack.name).refresh().entries
    store = AlertStore(ctx.db, ctx.cipher, ctx.settings, runtime.bus)
    page = log_in("operator")
    page.goto(f"{live_server.url}/alerts")
    page.select_option("#filter-status", "")
    page.wait_for_selector("#live-text:has-text('live alerts on')", timeout=30_000)

    alert_id = store.save(_candidate(entry, 0.46, 40, 20, 10))
    card = page.locator(f"#alert-{alert_id}")
    card.wait_for(timeout=30_000)
    assert card.locator('[data-role="conflict"]').count() == 0
    first_src = card.locator('[data-role="headline"]').get_attribute("src")

    assert store.save_sighting(
        SightingUpdate(alert_id, 2, _candidate(entry, 0.94, 220, 15, 5), conflicting=True)
    )
    card.locator('[data-role="conflict"]').wait_for(timeout=30_000)
    assert "2 sightings, best first: 0.94⚠ · 0.46⚠" in card.inner_text()
    assert card.locator(".score").inner_text() == "0.94"
    best_src = card.locator('[data-role="headline"]').get_attribute("src")
    assert best_src != first_src and "/sightings/" in best_src

    page.goto(f"{live_server.url}/alerts/{alert_id}")
    page.wait_for_selector("#sightings li.sighting")
    assert page.locator("#conflict-warning").is_visible()
    items = page.locator("#sightings li.sighting")
    assert items.count() == 2
    assert "Best" in items.nth(0).inner_text() and "0.940" in items.nth(0).inner_text()
    assert "0.460" in items.nth(1).inner_text() and "track 1" in items.nth(1).inner_text()
    page.wait_for_function(
        "() => [document.querySelector('#probe'), document.querySelector('#sightings img')]"
        ".every(i => i && i.complete && i.naturalWidth > 0)"
    )
    assert page.locator("#probe").get_attribute("src") == best_src


def test_a_live_card_survives_a_list_answer_read_before_it(log_in, live_server) -> None:
    """An alert that arrives while the list is loading stays on the page: the list's answer was
    read before the alert existed and must not wipe the card the WebSocket drew."""
    runtime = live_server.server
    ctx = runtime.context
    (entry,) = ActiveGallery(ctx.db, ctx.cipher, ctx.settings, ctx.pack.name).refresh().entries
    store = AlertStore(ctx.db, ctx.cipher, ctx.settings, runtime.bus)
    page = log_in("operator")
    held = []  # (route, the server's answer read at request time), answered later by the test

    def hold(route) -> None:
        held.append((route, route.fetch()))

    page.route("**/api/alerts?*", hold)
    page.goto(f"{live_server.url}/alerts")
    page.wait_for_selector("#live-text:has-text('live alerts on')", timeout=30_000)
    for _ in range(300):  # the first list load is held with its old answer
        if held:
            break
        page.wait_for_timeout(100)
    assert held, "the alert list was never requested"

    alert_id = store.save(_candidate(entry, 0.93, 90, 8, 4))
    card = page.locator(f"#alert-{alert_id}")
    card.wait_for(timeout=30_000)  # drawn from the WebSocket event
    for route, answer in held:  # now the stale answer arrives
        route.fulfill(response=answer)
    page.unroute("**/api/alerts?*")
    page.wait_for_selector(f"#alert-list[data-loads='{len(held)}']", timeout=30_000)
    assert card.is_visible()


def test_rejecting_the_wrong_face_moves_the_card_to_the_right_one(log_in, live_server) -> None:
    """Two faces matched one person at once; the look-alike scored higher. A supervisor marks
    that sighting "not this person" on the review page; the operator's card, live, shows the
    other face and its score, with the rejected score struck through."""
    runtime = live_server.server
    ctx = runtime.context
    (entry,) = ActiveGallery(ctx.db, ctx.cipher, ctx.settings, ctx.pack.name).refresh().entries
    store = AlertStore(ctx.db, ctx.cipher, ctx.settings, runtime.bus)
    alert_id = store.save(_candidate(entry, 0.47, 40, 20, 10))  # the wanted person, track 1
    assert store.save_sighting(  # a look-alike at the same time, scoring higher
        SightingUpdate(alert_id, 2, _candidate(entry, 0.95, 220, 15, 5), conflicting=True)
    )
    operator = log_in("operator")
    operator.goto(f"{live_server.url}/alerts")
    operator.select_option("#filter-status", "")
    operator.wait_for_selector("#live-text:has-text('live alerts on')", timeout=30_000)
    card = operator.locator(f"#alert-{alert_id}")
    card.wait_for(timeout=30_000)
    assert card.locator(".score").inner_text() == "0.95"
    wrong_src = card.locator('[data-role="headline"]').get_attribute("src")

    reviewer = log_in("supervisor")
    reviewer.goto(f"{live_server.url}/alerts/{alert_id}")
    wrong = reviewer.locator("#sightings li.sighting[data-ordinal='2']")
    wrong.locator('[data-role="sighting-reason"]').wait_for(timeout=30_000)
    wrong.locator('[data-role="sighting-reason"]').fill("a different man: beard, glasses")
    wrong.locator('[data-role="reject-sighting"]').click()
    reviewer.locator("#sightings li.sighting.rejected[data-ordinal='2']").wait_for(timeout=30_000)
    items = reviewer.locator("#sightings li.sighting")
    assert "0.470" in items.nth(0).inner_text() and "Best" in items.nth(0).inner_text()
    assert "not this person" in items.nth(1).inner_text()
    assert "supervisor" in items.nth(1).inner_text()
    assert reviewer.locator('[data-role="reject-sighting"]').count() == 0  # the last face left
    right_src = reviewer.locator("#probe").get_attribute("src")
    assert right_src != wrong_src and "/sightings/" in right_src

    operator.wait_for_function(  # the operator's card follows, from the WebSocket event
        f"() => document.querySelector('#alert-{alert_id} .score').textContent === '0.47'",
        timeout=30_000,
    )
    assert card.locator('[data-role="headline"]').get_attribute("src") == right_src
    assert card.locator("s.rejected-sighting").inner_text() == "0.95"
    assert "1 not this person" in card.inner_text()
