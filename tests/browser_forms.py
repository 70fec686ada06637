"""The dashboard's login form, filled the way a user does (browser tests)."""

from __future__ import annotations


def submit_login(page, base_url: str, username: str, password: str) -> None:
    """Open ``/login`` on ``base_url``, type the credentials and submit; the caller waits for
    where the answer leads (start page, password change, error)."""
    page.goto(f"{base_url}/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.click("#login-submit")
