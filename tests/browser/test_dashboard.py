"""The command center in a real headless Chromium against a real server and real models.

Flow: log in; see the Hamilton camera go live; receive a live alert for Lin-Manuel Miranda over
the WebSocket; first confirmation; the same user's second confirmation is refused; another user
confirms; an operator is refused the authorizations page. Screenshots go to artifacts/screenshots.
"""

from __future__ import annotations

import re

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.shared]

ALERT_WAIT_MS = 180_000  # a wait bound, not a speed assertion: the clip loops until the alert comes


def test_login_form_rejects_a_wrong_password(live_server, browser) -> None:
    page = browser.new_page()
    page.goto(f"{live_server.url}/live")
    assert "/login" in page.url  # anonymous visitors are sent to log in
    page.fill("#username", "operator")
    page.fill("#password", "not-the-password")
    page.click("#login-submit")
    error = page.locator("#login-error")
    error.wait_for(state="visible")
    assert error.inner_text().strip()
    assert "/login" in page.url
    page.close()


def test_camera_goes_live(log_in, live_server, screenshots) -> None:
    page = log_in("operator")
    assert page.url.endswith("/live")
    tile = page.locator("#cam-hamilton")
    page.wait_for_selector('#cam-hamilton[data-state="connected"]', timeout=60_000)
    page.wait_for_function(
        "() => { const i = document.querySelector('#cam-hamilton img'); return i && i.naturalWidth > 0; }",
        timeout=60_000,
    )
    assert "hamilton" in tile.inner_text()
    assert re.search(r"fps\s+\d", tile.inner_text())
    page.screenshot(path=str(screenshots / "live.png"))


def test_live_alert_and_two_person_review(log_in, live_server, screenshots) -> None:
    operator = log_in("operator")
    operator.goto(f"{live_server.url}/alerts")
    operator.select_option("#filter-status", "")
    operator.wait_for_selector("#live-text:has-text('live alerts on')", timeout=30_000)
    # the card must arrive through the WebSocket (a fresh card is only ever added by a pushed event)
    card = operator.locator(".alert-card.fresh").first
    card.wait_for(timeout=ALERT_WAIT_MS)
    assert "Lin-Manuel Miranda" in card.inner_text()
    assert "HAM-2026-001" in card.inner_text()
    counter = operator.locator("#alert-counter")
    assert int(counter.inner_text()) >= 1
    operator.wait_for_function(
        "() => [...document.querySelectorAll('.alert-card.fresh img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    operator.screenshot(path=str(screenshots / "alerts.png"))
    alert_id = card.get_attribute("id").removeprefix("alert-")

    operator.click(f"#alert-{alert_id} a.button")
    operator.wait_for_url(f"**/alerts/{alert_id}")
    operator.wait_for_selector("#facts dd")
    operator.click("#confirm-btn")
    banner = operator.locator("#first-confirmation")
    banner.wait_for(state="visible")
    assert "operator" in banner.inner_text()
    assert "needs 2nd confirmation" in operator.locator("#status").inner_text()

    # the same user again: refused by the API, and the refusal is shown
    operator.click("#confirm-btn")
    result = operator.locator("#review-result.error")
    result.wait_for(state="visible")
    assert result.inner_text().strip()
    assert "needs 2nd confirmation" in operator.locator("#status").inner_text()
    operator.screenshot(path=str(screenshots / "review-pending.png"))

    supervisor = log_in("supervisor")
    supervisor.goto(f"{live_server.url}/alerts/{alert_id}")
    supervisor.wait_for_selector("#first-confirmation:visible")
    supervisor.fill("#review-reason", "compared the faces; same person")
    supervisor.click("#confirm-btn")
    supervisor.wait_for_selector("#status:has-text('confirmed')")
    assert supervisor.locator("#review-panel").is_hidden()
    reviews = supervisor.locator("#reviews").inner_text()
    assert "operator" in reviews and "supervisor" in reviews
    supervisor.screenshot(path=str(screenshots / "review-confirmed.png"))


def test_operator_is_refused_the_authorizations_page(log_in, live_server, screenshots) -> None:
    page = log_in("operator")
    response = page.goto(f"{live_server.url}/authorizations")
    assert response is not None and response.status == 403
    assert "Not allowed" in page.locator("#forbidden").inner_text()
    page.screenshot(path=str(screenshots / "forbidden.png"))


@pytest.mark.parametrize(
    ("path", "ready"),
    [
        ("/authorizations", "#auth-rows tr td.mono"),
        ("/watchlists", "#wl-rows a[data-wl]"),
        ("/cameras", "#camrow-hamilton"),
        ("/users", "#user-rows tr"),
        ("/audit", "#audit-rows tr td.mono"),
    ],
)
def test_admin_pages_render_their_data(log_in, live_server, screenshots, path: str, ready: str) -> None:
    page = log_in("admin")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_server.url}{path}")
    page.wait_for_selector(ready)
    if path == "/watchlists":
        page.click("#wl-rows a[data-wl]")
        page.wait_for_selector("#subject-rows tr:has-text('Lin-Manuel Miranda')")
    assert not page.locator(".banner.error:visible").count()
    assert errors == []
    page.screenshot(path=str(screenshots / f"{path.strip('/')}.png"), full_page=True)
