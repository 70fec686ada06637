"""A maintenance engineer in a real headless Chromium: sees the Cameras page (status, restart
buttons, nothing to edit) and is refused the Alerts page, its API and the camera preview."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.shared]


def test_maintainer_sees_cameras_and_gets_403_on_alerts(log_in, live_server, screenshots) -> None:
    page = log_in("maintainer")
    assert page.url.endswith("/cameras")  # the role's start page
    row = page.locator("#camrow-hamilton")
    row.wait_for(state="visible", timeout=60_000)
    assert row.locator("button[data-stop], button[data-start]").count() == 1  # may restart it
    assert row.locator("button[data-edit], button[data-delete]").count() == 0
    assert page.locator('a[href="/cameras"]').count() >= 1  # the navigation is there
    assert page.locator('a[href="/alerts"], a[href="/audit"], a[href="/watchlists"]').count() == 0
    page.screenshot(path=str(screenshots / "maintainer-cameras.png"))

    refused = page.goto(f"{live_server.url}/alerts")
    assert refused is not None and refused.status == 403
    assert "Not allowed" in page.content()
    for path in ("/api/alerts", "/api/audit", "/api/cameras/1/preview", "/api/watchlists"):
        assert page.request.get(f"{live_server.url}{path}").status == 403, path
    assert page.request.get(f"{live_server.url}/api/cameras").status == 200


def test_admin_creates_a_maintenance_account_it_may_not_approve(log_in, live_server) -> None:
    page = log_in("admin")
    page.goto(f"{live_server.url}/users")
    page.fill("#maint-name", "field-engineer")
    page.fill("#maint-hours", "4")
    page.click("#maint-submit")
    page.locator("#one-time-password").wait_for(state="visible")
    row = page.locator("#user-field-engineer")
    row.wait_for(state="visible")
    assert "awaiting a second person's approval" in row.inner_text()
    row.locator("button[data-approve]").click()
    error = page.locator("#user-error")
    error.wait_for(state="visible")
    assert "may not also approve" in error.inner_text()  # its creator: a second person must
