"""Render a :class:`~vigil.accountability.report.Report` as JSON, CSV or a standalone HTML page.

The HTML has inline SVG charts drawn here in Python: no JavaScript, no external assets.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from html import escape
from typing import Any, Literal

from vigil.accountability.report import CameraFigures, Report, ThresholdFigures
from vigil.accountability.threshold import MinFaceInForce

Format = Literal["json", "csv", "html"]
COLORS = {
    "faces": "#4a7ab5",
    "alerts": "#d9822b",
    "confirmed": "#2e8540",
    "rejected": "#c0392b",
    "pending": "#999999",
    "subjects": "#6c5b7b",
}


def _camera_dict(c: CameraFigures) -> dict[str, Any]:
    data = asdict(c)
    data["hours"] = round(c.hours, 3)
    data["precision"] = None if c.precision is None else round(c.precision, 4)
    return data


def to_dict(report: Report) -> dict[str, Any]:
    return {
        "period": {"from": report.start.isoformat(), "to": report.end.isoformat()},
        "generated_at": report.generated_at.isoformat(),
        "cameras": [_camera_dict(c) for c in report.cameras],
        "total": _camera_dict(report.total),
        "watchlists_by_purpose": [asdict(p) for p in report.purposes],
        "authorizations": asdict(report.authorizations),
        "deleted_by_retention": report.deleted,
        "retention_runs": report.retention_runs,
        "threshold": {**asdict(report.threshold), "changed_at": _iso(report.threshold.changed_at)},
        "min_face": None
        if report.min_face is None
        else {**asdict(report.min_face), "changed_at": _iso(report.min_face.changed_at)},
        "audit_events": report.audit_events,
        "maintenance_access": {
            "sessions": report.maintenance_sessions,
            "hours": round(report.maintenance_hours, 3),
        },
        "timeline": {
            "bucket_seconds": report.bucket_seconds,
            "points": [
                {"start": p.start.isoformat(), "faces": p.faces, "alerts": p.alerts}
                for p in report.timeline
            ],
        },
    }


def maintenance_line(report: Report) -> str:
    """The report's maintenance figure, as published: 'maintenance access: N sessions, M hours'."""
    return (
        f"maintenance access: {report.maintenance_sessions} sessions, "
        f"{report.maintenance_hours:.1f} hours"
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def to_json(report: Report) -> str:
    return json.dumps(to_dict(report), indent=2)


def to_csv(report: Report) -> str:
    """Long format: section, camera (or key), metric, value."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["section", "camera", "metric", "value"])
    w.writerow(["period", "", "from", report.start.isoformat()])
    w.writerow(["period", "", "to", report.end.isoformat()])
    for cam in [*report.cameras, report.total]:
        for key, value in _camera_dict(cam).items():
            if key != "camera":
                w.writerow(["camera", cam.camera, key, "" if value is None else value])
    for p in report.purposes:
        for key in ("authorizations_in_force", "watchlists", "subjects"):
            w.writerow(["purpose", p.purpose, key, getattr(p, key)])
    for key, value in asdict(report.authorizations).items():
        w.writerow(["authorizations", "", key, value])
    for key, value in report.deleted.items():
        w.writerow(["retention", "", f"deleted_{key}", value])
    w.writerow(["maintenance_access", "", "sessions", report.maintenance_sessions])
    w.writerow(["maintenance_access", "", "hours", round(report.maintenance_hours, 3)])
    t = report.threshold
    w.writerow(["threshold", t.pack, "threshold", t.threshold])
    w.writerow(["threshold", t.pack, "source", t.source])
    w.writerow(
        ["threshold", t.pack, "measured_fpr", "" if t.measured_fpr is None else t.measured_fpr]
    )
    if t.enrolled is not None:
        w.writerow(["threshold", t.pack, "base", t.base])
        w.writerow(["threshold", t.pack, "enrolled_people", t.enrolled])
    if (m := report.min_face) is not None:
        w.writerow(["min_face", m.pack, "min_face_px", m.min_face_px])
        w.writerow(["min_face", m.pack, "source", m.source])
        if m.enrolled is not None:
            w.writerow(["min_face", m.pack, "base", m.base])
    return out.getvalue()


def render(report: Report, fmt: str) -> str:
    if fmt == "json":
        return to_json(report)
    if fmt == "csv":
        return to_csv(report)
    if fmt == "html":
        return to_html(report)
    from vigil.errors import InputError

    raise InputError(f"unknown report format {fmt!r}", hint="use html, json or csv")


# ---- SVG charts ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Plot:
    width: int
    height: int
    left: int = 56
    top: int = 34
    right: int = 16
    bottom: int = 64

    @property
    def w(self) -> int:
        return self.width - self.left - self.right

    @property
    def h(self) -> int:
        return self.height - self.top - self.bottom


def _grid(p: _Plot, peak: float) -> list[str]:
    parts = []
    for k in range(5):
        y = p.top + p.h - p.h * k / 4
        parts.append(
            f'<line x1="{p.left}" y1="{y:.1f}" x2="{p.left + p.w}" y2="{y:.1f}" stroke="#ddd"/>'
        )
        parts.append(
            f'<text x="{p.left - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11">'
            f"{_num(peak * k / 4)}</text>"
        )
    return parts


def _bars(
    p: _Plot, labels: Sequence[str], series: dict[str, Sequence[float]], peak: float, stacked: bool
) -> list[str]:
    parts = []
    n = max(1, len(labels))
    group_w = p.w / n
    bar_w = group_w * 0.8 / (1 if stacked else max(1, len(series)))
    for i, label in enumerate(labels):
        x0, base = p.left + i * group_w + group_w * 0.1, float(p.top + p.h)
        for j, (name, values) in enumerate(series.items()):
            h = p.h * values[i] / peak
            x, y = (x0 if stacked else x0 + j * bar_w), base - h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(bar_w - 1, 1):.1f}" height="{h:.1f}" '
                f'fill="{COLORS.get(name, "#888")}"><title>{escape(label)} {escape(name)}: '
                f"{_num(values[i])}</title></rect>"
            )
            base = y if stacked else base
        if n <= 24 or i % max(1, n // 12) == 0:
            cx = p.left + i * group_w + group_w / 2
            parts.append(
                f'<text x="{cx:.1f}" y="{p.top + p.h + 16}" font-size="10" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    return parts


def _legend(p: _Plot, names: Sequence[str]) -> list[str]:
    parts = []
    for j, name in enumerate(names):
        lx = p.left + j * 120
        parts.append(
            f'<rect x="{lx}" y="{p.height - 22}" width="12" height="12" '
            f'fill="{COLORS.get(name, "#888")}"/>'
        )
        parts.append(
            f'<text x="{lx + 16}" y="{p.height - 12}" font-size="12">{escape(name)}</text>'
        )
    return parts


def svg_bars(
    title: str,
    labels: Sequence[str],
    series: dict[str, Sequence[float]],
    *,
    width: int = 720,
    height: int = 260,
    stacked: bool = False,
) -> str:
    """A bar chart (grouped or stacked) with axes, value ticks and a legend, as inline SVG."""
    p = _Plot(width, height)
    totals = [sum(v[i] for v in series.values()) for i in range(len(labels))] if stacked else []
    peak = max([*totals, *(x for v in series.values() for x in v), 1])
    head = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}" class="chart">',
        f'<text x="{p.left}" y="20" font-weight="bold">{escape(title)}</text>',
    ]
    body = _grid(p, peak) + _bars(p, labels, series, peak, stacked) + _legend(p, list(series))
    return "".join([*head, *body, "</svg>"])


def _num(value: float) -> str:
    return f"{value:,.0f}" if value >= 10 or float(value).is_integer() else f"{value:.2f}"


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.1f}%"


def _time_label(report: Report, t: datetime) -> str:
    return t.strftime("%H:%M") if report.bucket_seconds < 86400 else t.strftime("%m-%d")


# ---- HTML ----------------------------------------------------------------------------------

CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222;max-width:1100px}
h1{margin-bottom:.2rem} .muted{color:#666} table{border-collapse:collapse;margin:.6rem 0 1.4rem}
th,td{border:1px solid #ccc;padding:.3rem .6rem;text-align:right}
th:first-child,td:first-child{text-align:left}
th{background:#f3f3f3} .cards{display:flex;gap:1rem;flex-wrap:wrap;margin:1rem 0}
.card{border:1px solid #ccc;border-radius:6px;padding:.6rem 1rem;min-width:150px}
.card b{display:block;font-size:1.6rem} .chart{display:block;margin:.5rem 0 1.5rem}
"""

CAMERA_COLUMNS = [
    ("faces", "Faces processed"),
    ("tracks", "Tracks"),
    ("alerts", "Candidate alerts"),
    ("confirmed", "Confirmed (true)"),
    ("rejected", "Rejected (false)"),
    ("pending", "Undecided"),
    ("false_sightings", "False sightings"),
    ("sessions", "Uses"),
    ("hours", "Hours running"),
]


def _table(head: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    th = "".join(f"<th>{escape(str(h))}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _camera_rows(report: Report) -> list[list[object]]:
    rows: list[list[object]] = []
    for c in [*report.cameras, report.total]:
        values = [
            f"{getattr(c, k):.2f}" if k == "hours" else f"{getattr(c, k):,}"
            for k, _ in CAMERA_COLUMNS
        ]
        rows.append([c.camera, *values, _pct(c.precision)])
    return rows


def _cards(report: Report) -> str:
    t = report.total
    cards = [
        ("Faces processed", f"{t.faces:,}"),
        ("Candidate alerts", f"{t.alerts:,}"),
        ("True alerts", f"{t.confirmed:,}"),
        ("False alerts", f"{t.rejected:,}"),
        ("Alert precision", _pct(t.precision)),
        ("Threshold", f"{report.threshold.threshold:.3f}"),
    ]
    inner = "".join(
        f'<div class="card"><span class="muted">{escape(k)}</span><b>{escape(v)}</b></div>'
        for k, v in cards
    )
    return f'<div class="cards">{inner}</div>'


def _charts(report: Report) -> str:
    labels = [_time_label(report, p.start) for p in report.timeline]
    timeline = svg_bars(
        f"Faces processed per {report.bucket_seconds // 60} min",
        labels,
        {"faces": [p.faces for p in report.timeline]},
    )
    alerts = svg_bars(
        f"Candidate alerts per {report.bucket_seconds // 60} min",
        labels,
        {"alerts": [p.alerts for p in report.timeline]},
        height=200,
    )
    cams = [c.camera for c in report.cameras]
    outcome = svg_bars(
        "Alert outcomes per camera",
        cams,
        {
            "confirmed": [c.confirmed for c in report.cameras],
            "rejected": [c.rejected for c in report.cameras],
            "pending": [c.pending for c in report.cameras],
        },
        stacked=True,
    )
    purposes = svg_bars(
        "Enrolled subjects by purpose (authorizations in force)",
        [p.purpose.replace("_", " ") for p in report.purposes],
        {"subjects": [p.subjects for p in report.purposes]},
        height=240,
    )
    return timeline + alerts + outcome + purposes


def to_html(report: Report, *, controls: str = "") -> str:
    """A standalone page; ``controls`` is trusted HTML put above the report (the web form)."""
    body = controls + html_sections(report)
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Vigil transparency '
        f"report</title><style>{CSS}</style></head><body>{body}</body></html>"
    )


def html_sections(report: Report) -> str:
    """The report's HTML without a page around it (the dashboard puts it in its own layout)."""
    a = report.authorizations
    sections = [
        "<h1>Vigil transparency report</h1>"
        f"<p class='muted'>Period {report.start:%Y-%m-%d %H:%M} to {report.end:%Y-%m-%d %H:%M} UTC "
        f"&middot; generated {report.generated_at:%Y-%m-%d %H:%M} UTC</p>",
        _cards(report),
        "<h2>Per camera</h2>",
        _table(
            ["Camera", *[h for _, h in CAMERA_COLUMNS], "Alert precision"], _camera_rows(report)
        ),
        "<p class='muted'>Faces processed counts every face detection (aggregate, per minute); "
        "unmatched faces leave no other trace. Precision = true / (true + false) alerts.</p>",
        _charts(report),
        "<h2>Watchlists by purpose</h2>",
        _table(
            ["Purpose", "Authorizations in force", "Watchlists", "Subjects"],
            [
                [p.purpose.replace("_", " "), p.authorizations_in_force, p.watchlists, p.subjects]
                for p in report.purposes
            ],
        ),
        "<h2>Authorizations</h2>",
        _table(
            ["In force at end", "Created", "Expired", "Revoked", "Refused"],
            [[a.in_force_at_end, a.created, a.expired, a.revoked, a.refused]],
        ),
        "<h2>Data deleted by retention</h2>",
        _table(
            ["Data class", "Deleted"],
            [[k.replace("_", " "), f"{v:,}"] for k, v in report.deleted.items()],
        )
        if report.deleted
        else "<p>No retention deletions in this period.</p>",
        f"<p class='muted'>{report.retention_runs} retention runs; {report.audit_events:,} audit "
        "records written in the period.</p>",
        "<h2>Maintenance access</h2>",
        f"<p id='maintenance-access'>{maintenance_line(report)}</p>",
        "<h2>Matching threshold</h2>",
        _threshold_html(report.threshold),
        _min_face_html(report.min_face),
    ]
    return "\n".join(sections)


def _min_face_html(m: MinFaceInForce | None) -> str:
    """The smallest face searched, and the base and watchlist size it was raised from."""
    if m is None:
        return ""
    raised = ""
    if m.enrolled is not None and m.base is not None and m.min_face_px != m.base:
        raised = f", raised from {m.base} px for {m.enrolled:,} enrolled people"
    return (
        f"<p id='min-face'>Smallest face searched: <b>{m.min_face_px} px</b> wide ({m.source}"
        f"{raised}); smaller faces are counted but never compared with the watchlists.</p>"
    )


def _threshold_html(t: ThresholdFigures) -> str:
    """The threshold in force, and the base and watchlist size it was raised from."""
    fpr = "not measured" if t.measured_fpr is None else f"{t.measured_fpr:.5f}"
    changed = f", set {t.changed_at:%Y-%m-%d %H:%M} UTC" if t.changed_at else ""
    raised = ""
    if t.enrolled is not None and t.base is not None and t.threshold != t.base:
        raised = f", raised from {t.base:.4f} for {t.enrolled:,} enrolled people"
    return (
        f"<p>Pack <b>{escape(t.pack)}</b>: cosine threshold <b>{t.threshold:.4f}</b> "
        f"({t.source}{changed}{raised}); "
        f"measured false-positive rate on LFW different-person pairs: <b>{fpr}</b>.</p>"
    )
