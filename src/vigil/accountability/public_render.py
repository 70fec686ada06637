"""HTML of the public transparency page, from the same payload the signed JSON carries.

Self-contained: no script, no style sheet or font from anywhere, no third-party URL.
"""

from __future__ import annotations

from html import escape
from typing import Any

STYLE = (
    "body{font-family:sans-serif;margin:2em;max-width:70em}"
    "table{border-collapse:collapse;margin:1em 0}"
    "th,td{border:1px solid #999;padding:.3em .6em;text-align:right}"
    "th:first-child,td:first-child{text-align:left}"
)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + "."


def _cell(value: object) -> str:
    return f"<td>{escape(str(value))}</td>"


def _table(caption: str, head: list[str], rows: list[list[object]], table_id: str) -> str:
    header = "".join(f"<th>{escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(_cell(v) for v in row) + "</tr>" for row in rows)
    return (
        f'<table id="{table_id}"><caption>{escape(caption)}</caption>'
        f"<thead><tr>{header}</tr></thead><tbody>{body}</tbody></table>"
    )


def _group(index: int, group: dict[str, Any]) -> str:
    figures = [
        [
            m["month"],
            m["faces_processed"],
            m["alerts"]["candidate"],
            m["alerts"]["confirmed"],
            m["alerts"]["rejected"],
        ]
        for m in group["months"]
    ]
    head = ["Month", "Faces processed", "Candidate alerts", "Confirmed", "Rejected"]
    cameras = group.get("cameras")
    size = "" if cameras is None else f" ({cameras} camera{'' if cameras == 1 else 's'})"
    return (
        f'<section class="group" id="group-{index}" data-group="{escape(group["group"])}">'
        f"<h3>Camera group: {escape(group['group'])}{size}</h3>"
        + _table("Figures by month", head, figures, f"figures-{index}")
        + "</section>"
    )


def _deployment(payload: dict[str, Any]) -> str:
    months = payload["deployment"]
    rows = [[m["month"], m["maintenance_hours"], m["retention_deletions_total"]] for m in months]
    auth_rows = [
        [m["month"], a["purpose"], a["authority"], a["count"]]
        for m in months
        for a in m["authorizations"]
    ]
    watch = [[w["purpose"], w["watchlists"], w["people"]] for w in payload["watchlists_by_purpose"]]
    return (
        "<h2>Whole deployment</h2>"
        f'<p id="deployment-note">{escape(_sentence(payload["deployment_note"]))}</p>'
        + _table(
            "Maintenance access and retention deletions by month",
            ["Month", "Maintenance hours", "Retention deletions"],
            rows,
            "deployment",
        )
        + _table(
            "Authorizations in force, by purpose and issuing authority",
            ["Month", "Purpose", "Issuing authority", "Authorizations"],
            auth_rows,
            "authorizations",
        )
        + _table(
            "Watchlist sizes by purpose (now)",
            ["Purpose", "Watchlists", "People on them"],
            watch,
            "watchlists",
        )
    )


def _raised(threshold: dict[str, Any]) -> str:
    """ ", raised from B for N enrolled people" when the watchlist size raised the threshold."""
    base = threshold.get("base_threshold")
    if base is None or base == threshold["threshold"]:
        return ""
    people = escape(str(threshold.get("enrolled_people")))
    return f", raised from {escape(str(base))} for {people} enrolled people"


def _min_face(threshold: dict[str, Any]) -> str:
    """The smallest face searched (and its base when the watchlist size raised it)."""
    px = threshold.get("min_face_px")
    if px is None:
        return ""
    base = threshold.get("base_min_face_px")
    raised = "" if base is None or base == px else f", raised from {escape(str(base))} px"
    return (
        f'<p id="min-face">Smallest face compared with the watchlists: {escape(str(px))} px '
        f"wide{raised}; smaller faces are counted but never searched.</p>"
    )


def render_public_html(payload: dict[str, Any], key_id: str, public_key: str) -> str:
    threshold = payload["threshold"]
    fpr = threshold["measured_false_positive_rate"]
    groups = "".join(_group(i, g) for i, g in enumerate(payload["groups"], start=1))
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>Vigil public transparency report</title>"
        f"<style>{STYLE}</style></head><body><main>"
        "<h1>Vigil public transparency report</h1>"
        f"<p>Period {escape(payload['period']['from'])} to {escape(payload['period']['to'])}. "
        f"Aggregates only; {escape(payload['small_counts'])}.</p>"
        "<h2>By camera group</h2>"
        f'<p id="groups-note">{escape(_sentence(payload["groups_note"]))}</p>'
        f"{groups}"
        + _deployment(payload)
        + f'<p id="threshold">Match threshold in force: {escape(str(threshold["threshold"]))} '
        f"({escape(threshold['source'])}, model pack {escape(threshold['pack'])}"
        f"{_raised(threshold)}); measured "
        f"false-positive rate: {escape('not measured' if fpr is None else str(fpr))}.</p>"
        + _min_face(threshold)
        + '<p>The same figures, signed: <a href="/public/transparency.json">transparency.json</a>. '
        f"Signing key {escape(key_id)} (Ed25519, base64): <code>{escape(public_key)}</code>. "
        "Check a copy with <code>vigil report verify FILE --public-key KEY</code>.</p>"
        "</main></body></html>"
    )
