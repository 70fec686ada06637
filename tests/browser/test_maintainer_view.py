"""A maintenance engineer in a real headless Chromium: sees the Cameras page (status, restart
buttons, nothing to edit) and the Logs page, and is refused the Alerts page, its API and the camera
preview; a supervisor approves a new maintenance account on the dashboard."""

from __future__ import annotations

import pytest

from browser_forms import submit_login

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.shared]
# who the browser fixture enrolls (tests/browser/conftest.py): never in a maintainer's view
PRIVATE = ("Lin-Manuel Miranda", "HAM-2026-001", "Hamilton cast")


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


def test_supervisor_approves_in_the_dashboard_then_the_maintainer_works(
    log_in, live_server, browser, screenshots
) -> None:
    """An admin creates a maintenance account; a supervisor sees it pending on the Maintenance
    approvals page and approves it; the engineer logs in, sees Cameras and Logs (with no one's
    name in them) and is refused Alerts."""
    admin = log_in("admin")
    admin.goto(f"{live_server.url}/users")
    admin.fill("#maint-name", "cam-engineer")
    admin.fill("#maint-hours", "8")
    admin.click("#maint-submit")
    secret = admin.locator("#one-time-password")
    secret.wait_for(state="visible")
    one_time = secret.inner_text().strip()

    supervisor = log_in("supervisor")
    supervisor.click('a[href="/approvals"]')  # the supervisor's navigation has the page
    supervisor.wait_for_url("**/approvals")
    assert supervisor.locator('a[href="/users"]').count() == 0  # not the admin's Users page
    row = supervisor.locator("#pending-cam-engineer")
    row.wait_for(state="visible")
    assert "admin" in row.inner_text()  # who created it
    supervisor.once("dialog", lambda dialog: dialog.accept())
    row.locator("button[data-approve]").click()
    row.wait_for(state="detached")
    assert not supervisor.locator(".banner.error:visible").count()
    supervisor.screenshot(path=str(screenshots / "supervisor-approvals.png"))

    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        submit_login(page, live_server.url, "cam-engineer", one_time)
        page.wait_for_url("**/account/password")
        page.fill("#current-password", one_time)
        page.fill("#new-password", "engineer-shift-passphrase")
        page.fill("#repeat-password", "engineer-shift-passphrase")
        page.click("#password-submit")
        page.wait_for_url("**/cameras")
        page.locator("#camrow-hamilton").wait_for(state="visible", timeout=60_000)

        page.click('a[href="/logs"]')
        page.wait_for_url("**/logs")
        page.locator("tr.log-line, #logs-empty").first.wait_for(state="visible")
        assert not page.locator(".banner.error:visible").count()
        page.select_option("#logs-level", "DEBUG")
        page.click("#logs-refresh")
        page.wait_for_load_state("networkidle")
        text = page.locator("main").inner_text()
        for private in PRIVATE:
            assert private not in text
        page.screenshot(path=str(screenshots / "maintainer-logs.png"))

        refused = page.goto(f"{live_server.url}/alerts")
        assert refused is not None and refused.status == 403
    finally:
        context.close()
