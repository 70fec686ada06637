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
        "() => { const i = document.querySelector('#cam-hamilton img');"
        " return i && i.naturalWidth > 0; }",
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
    # A supervisor restarts the camera from the Cameras page: a new run starts a new passage, so
    # Lin-Manuel Miranda's next appearance is a new candidate alert, pushed to the open page.
    supervisor = log_in("supervisor")
    supervisor.goto(f"{live_server.url}/cameras")
    supervisor.click("#camrow-hamilton button[data-stop]")
    supervisor.click("#camrow-hamilton button[data-start]")
    supervisor.wait_for_selector("#camrow-hamilton button[data-stop]")
    # the card must arrive through the WebSocket (a fresh card is only ever added by a pushed event)
    card = operator.locator(".alert-card.fresh").first
    card.wait_for(timeout=ALERT_WAIT_MS)
    assert "Lin-Manuel Miranda" in card.inner_text()
    assert "HAM-2026-001" in card.inner_text()
    counter = operator.locator("#alert-counter")
    assert int(counter.inner_text()) >= 1
    operator.wait_for_function(
        "() => [...document.querySelectorAll('.alert-card.fresh img')]"
        ".every(i => i.complete && i.naturalWidth > 0)"
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
def test_admin_pages_render_their_data(
    log_in, live_server, screenshots, path: str, ready: str
) -> None:
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


def test_enrollment_shows_per_photo_feedback(
    log_in, live_server, photos, tmp_path, screenshots
) -> None:
    import cv2
    import numpy as np

    no_face = tmp_path / "wall.png"
    cv2.imwrite(str(no_face), np.full((240, 320, 3), (40, 90, 160), np.uint8))
    page = log_in("supervisor")
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{live_server.url}/watchlists")
    page.click("#wl-rows a[data-wl]")
    page.wait_for_selector("#enroll-form")
    page.fill("#enroll-name", "Barack Obama")
    page.set_input_files("#enroll-photos", [str(photos / "obama.jpg"), str(no_face)])
    page.click("#enroll-submit")
    page.wait_for_selector("#enroll-feedback li.bad")
    accepted = page.locator("#enroll-feedback li.ok").inner_text()
    refused = page.locator("#enroll-feedback li.bad").first.inner_text()
    assert "obama.jpg" in accepted
    assert "wall.png" in refused and "no face found" in refused
    row = page.locator("#subject-rows tr:has-text('Barack Obama')")
    row.wait_for()
    page.screenshot(path=str(screenshots / "enrollment.png"), full_page=True)
    row.locator("button[data-remove]").click()
    row.wait_for(state="detached")


def test_authorization_create_and_revoke(log_in, live_server) -> None:
    page = log_in("supervisor")
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(f"{live_server.url}/authorizations")
    page.fill("#auth-reference", "UI-2026-7")
    page.select_option("#auth-purpose", "victim_search")
    page.fill("#auth-authority", "Browser test court")
    page.fill("#auth-legal", "Test statute, art. 9")
    page.click("#auth-submit")
    page.wait_for_selector("#auth-result.success")
    row = page.locator("#auth-rows tr:has-text('UI-2026-7')")
    row.wait_for()
    assert "active" in row.inner_text()
    # a second one with the same reference is refused, and the API's message is shown
    page.fill("#auth-reference", "UI-2026-7")
    page.fill("#auth-authority", "Browser test court")
    page.fill("#auth-legal", "Test statute, art. 9")
    page.click("#auth-submit")
    page.wait_for_selector("#auth-result.error")
    assert "already exists" in page.locator("#auth-result").inner_text()
    row.locator("button[data-revoke]").click()
    page.wait_for_selector("#auth-rows tr:has-text('UI-2026-7') .pill.bad")
    assert "revoked" in row.inner_text()


def test_admin_switches_preview_blur_and_it_is_audited(log_in, live_server) -> None:
    page = log_in("admin")
    page.goto(f"{live_server.url}/live")
    toggle = page.locator("#blur-toggle")
    page.wait_for_selector("#blur-toggle[data-loaded='true']", state="attached")
    assert toggle.is_checked()
    assert "blurred" in page.locator("#blur-note").inner_text()
    toggle.uncheck()
    page.wait_for_selector("#blur-note:has-text('OFF')")
    toggle.check()
    page.wait_for_selector("#blur-note:has-text('Every face is blurred')")
    page.goto(f"{live_server.url}/audit")
    page.fill("#audit-action", "settings.change")
    page.click("#audit-apply")
    page.wait_for_function("() => document.querySelectorAll('#audit-rows tr td.mono').length >= 2")
    assert "preview" in page.locator("#audit-rows").inner_text()


def test_new_user_gets_a_one_time_password_and_must_change_it(log_in, live_server, browser) -> None:
    admin = log_in("admin")
    admin.goto(f"{live_server.url}/users")
    admin.fill("#user-name", "night-operator")
    admin.select_option("#user-role", "operator")
    admin.click("#user-submit")
    secret = admin.locator("#one-time-password")
    secret.wait_for()
    one_time = secret.inner_text().strip()
    assert len(one_time) >= 12
    admin.wait_for_selector("#user-night-operator")

    context = browser.new_context()
    page = context.new_page()
    page.goto(f"{live_server.url}/login")
    page.fill("#username", "night-operator")
    page.fill("#password", one_time)
    page.click("#login-submit")
    page.wait_for_url("**/account/password")
    page.goto(f"{live_server.url}/live")
    assert page.url.endswith("/account/password")  # nothing else until the password is changed
    page.fill("#current-password", one_time)
    page.fill("#new-password", "night-shift-passphrase")
    page.fill("#repeat-password", "night-shift-passphrase")
    page.click("#password-submit")
    page.wait_for_url("**/live")
    context.close()


@pytest.mark.parametrize(
    "path", ["/authorizations", "/watchlists", "/cameras", "/audit", "/report"]
)
def test_auditor_pages_are_read_only_and_error_free(log_in, live_server, path: str) -> None:
    page = log_in("auditor")
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    response = page.goto(f"{live_server.url}{path}")
    assert response is not None and response.status == 200
    page.wait_for_load_state("networkidle")
    assert (
        page.locator("form#auth-form, form#wl-form, form#cam-form, form#enroll-form").count() == 0
    )
    assert not page.locator(".banner.error:visible").count()
    assert errors == []
