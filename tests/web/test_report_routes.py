"""The transparency report in the web app: every logged-in role, anonymous 401, no names."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

import pytest

from vigil.domain.enums import Role


@pytest.mark.parametrize("role", list(Role))
def test_every_role_reads_the_report(env, make_alert: Callable[..., int], role: Role) -> None:
    make_alert("cam-east")
    client = env.client(role)
    page = client.get("/report")
    assert page.status_code == 200, page.text
    assert "Vigil transparency report" in page.text and "<svg" in page.text
    assert "cam-east" in page.text
    data = client.get("/api/report").json()
    assert data["total"]["alerts"] == 1 and data["cameras"][0]["camera"] == "cam-east"


def test_token_client_and_formats(env, make_alert: Callable[..., int]) -> None:
    make_alert("cam-1")
    client = env.token_client(Role.auditor)
    r = client.get("/api/report", params={"format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert {"section": "camera", "camera": "cam-1", "metric": "alerts", "value": "1"} in rows
    html = client.get("/api/report", params={"format": "html"})
    assert html.status_code == 200 and html.text.startswith("<!doctype html>")


def test_anonymous_is_refused(env) -> None:
    anon = env.client()
    assert anon.get("/api/report").status_code == 401
    page = anon.get("/report")
    assert page.status_code == 401 and "Log in" in page.text


@pytest.mark.parametrize(
    ("params", "status", "text"),
    [
        ({"format": "pdf"}, 422, "format"),
        ({"from": "yesterday"}, 400, "ISO 8601"),
        ({"from": "2026-02-01T00:00Z", "to": "2026-01-01T00:00Z"}, 400, "empty"),
    ],
)
def test_bad_parameters(env, params: dict[str, str], status: int, text: str) -> None:
    r = env.client(Role.auditor).get("/api/report", params=params)
    assert r.status_code == status, r.text
    assert text in r.text


def test_no_names_in_report(env, make_alert: Callable[..., int]) -> None:
    make_alert("cam-1")
    client = env.client(Role.admin)
    with env.context.db.read() as s:
        from sqlalchemy import select

        from vigil.db.models import Authorization, Subject, Watchlist

        names = [
            *s.scalars(select(Subject.name)),
            *s.scalars(select(Watchlist.name)),
            *s.scalars(select(Authorization.reference)),
        ]
    assert names
    for fmt in ("json", "csv", "html"):
        body = client.get("/api/report", params={"format": fmt}).text
        assert not [n for n in names if n in body], fmt
    page = client.get("/report").text
    assert not [n for n in names if n in page]
