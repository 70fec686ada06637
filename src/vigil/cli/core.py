"""Core CLI: authorizations, watchlists, enrollment, analysing a video or stream.

    vigil authorization add REF --purpose missing_person --legal-basis TEXT --authority TEXT \\
        --expires 2026-12-31T23:59Z [--valid-from ISO] [--cameras cam1,cam2]
    vigil authorization list | revoke REF | refuse REF
    vigil watchlist add NAME --authorization REF | list
    vigil enroll WATCHLIST "SUBJECT NAME" PHOTO [PHOTO...]
    vigil analyze SOURCE --camera NAME [--json] [--duration S] [--max-fps F]

The benchmarks (`vigil bench ...`) are in :mod:`vigil.cli.bench`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import typer
from rich.progress import Progress, TaskID

from vigil.cli.common import (
    cli_errors,
    console,
    err_console,
    is_tty,
    state,
)
from vigil.domain.enums import AuthorizationStatus
from vigil.domain.events import AlertEvent
from vigil.errors import EnrollmentRejected, InputError
from vigil.services.authorizations import (
    AuthorizationInput,
    AuthorizationService,
    public_status,
)
from vigil.services.enrollment import FacePhotoValidator
from vigil.services.watchlists import WatchlistService
from vigil.timeutil import parse_iso
from vigil.types import ValidatedFace

ACTOR = "cli"

authorization_app = typer.Typer(
    help="Legal authorizations (court orders) that allow matching.", no_args_is_help=True
)
watchlist_app = typer.Typer(
    help="Watchlists, each bound to one authorization.", no_args_is_help=True
)


def _cameras(value: str | None) -> tuple[str, ...] | None:
    if value is None:
        return None
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    if not names:
        raise InputError(
            "--cameras is empty", hint="give camera names separated by commas, or omit it"
        )
    return names


@authorization_app.command("add")
@cli_errors
def authorization_add(
    ctx: typer.Context,
    reference: str = typer.Argument(..., help="the order's reference number"),
    purpose: str = typer.Option(
        ..., "--purpose", help="missing_person, victim_search, imminent_threat, ..."
    ),
    legal_basis: str = typer.Option(..., "--legal-basis", help="the law or article it rests on"),
    authority: str = typer.Option(..., "--authority", help="the court or body that authorized it"),
    expires: str = typer.Option(..., "--expires", help="ISO 8601 expiry, e.g. 2026-12-31T23:59Z"),
    valid_from: str | None = typer.Option(
        None, "--valid-from", help="ISO 8601 start (default: now)"
    ),
    cameras: str | None = typer.Option(None, "--cameras", help="cam1,cam2 (default: all cameras)"),
) -> None:
    """Register an authorization."""
    data = AuthorizationInput(
        reference=reference,
        purpose=purpose,
        legal_basis=legal_basis,
        authority=authority,
        expires_at=parse_iso(expires, name="--expires"),
        valid_from=parse_iso(valid_from, name="--valid-from") if valid_from else None,
        cameras=_cameras(cameras),
    )
    auth = AuthorizationService(state(ctx).context().db).create(data, actor=ACTOR)
    scope = ", ".join(auth.cameras) if auth.cameras else "all cameras"
    console.print(
        f"authorization {auth.reference} added: {auth.purpose.value}, {scope}, "
        f"valid {auth.valid_from.isoformat()} to {auth.expires_at.isoformat()}",
        highlight=False,
    )


@authorization_app.command("list")
@cli_errors
def authorization_list(ctx: typer.Context) -> None:
    """List authorizations."""
    rows = AuthorizationService(state(ctx).context().db).list()
    if not rows:
        console.print("no authorizations")
    for a in rows:
        scope = ",".join(a.cameras) if a.cameras else "all"
        console.print(
            f"{a.reference}\t{public_status(a.status, a.expires_at)}\t{a.purpose.value}\t"
            f"cameras={scope}\t"
            f"from={a.valid_from.isoformat()}\texpires={a.expires_at.isoformat()}\t{a.authority}",
            highlight=False,
        )


def _end(ctx: typer.Context, reference: str, status: AuthorizationStatus) -> None:
    """Revoke or refuse; each purged alert's event goes into the relay log with the purge, so
    the running servers' dashboards drop it at once (this process has no subscribers)."""
    from vigil.services.alert_relay import announcing_bus

    db = state(ctx).context().db
    purged = AuthorizationService(db, announcing_bus(db)).end(reference, status, actor=ACTOR)
    console.print(
        f"authorization {reference} {status.value}; purged {purged['subjects']} subjects, "
        f"{purged['templates']} templates, {purged['alerts']} alerts",
        highlight=False,
    )


@authorization_app.command("revoke")
@cli_errors
def authorization_revoke(ctx: typer.Context, reference: str = typer.Argument(...)) -> None:
    """Revoke an authorization and purge everything found under it."""
    _end(ctx, reference, AuthorizationStatus.revoked)


@authorization_app.command("refuse")
@cli_errors
def authorization_refuse(ctx: typer.Context, reference: str = typer.Argument(...)) -> None:
    """Record that an authorization was refused and purge everything found under it."""
    _end(ctx, reference, AuthorizationStatus.refused)


@watchlist_app.command("add")
@cli_errors
def watchlist_add(
    ctx: typer.Context,
    name: str = typer.Argument(...),
    authorization: str = typer.Option(..., "--authorization", help="reference of an authorization"),
) -> None:
    """Create a watchlist under an authorization."""
    context = state(ctx).context()
    wl = WatchlistService(context.db, context.cipher).create(name, authorization, actor=ACTOR)
    console.print(f"watchlist {wl.name} added under authorization {authorization}", highlight=False)


@watchlist_app.command("list")
@cli_errors
def watchlist_list(ctx: typer.Context) -> None:
    """List watchlists."""
    context = state(ctx).context()
    views = WatchlistService(context.db, context.cipher).list()
    if not views:
        console.print("no watchlists")
    for v in views:
        console.print(
            f"{v.name}\tauthorization={v.authorization_reference}\t{v.purpose}\tsubjects={v.subjects}",
            highlight=False,
        )


@cli_errors
def enroll(
    ctx: typer.Context,
    watchlist: str = typer.Argument(..., help="watchlist name"),
    subject: str = typer.Argument(..., help="the person's name"),
    photos: list[Path] = typer.Argument(..., help="one or more photos, one face each"),
) -> None:
    """Enroll a person from photos; each photo is checked and its result printed
    (ok, rejected with the reason, or not found); fails only when none is usable."""
    context = state(ctx).context()
    service = WatchlistService(context.db, context.cipher)
    service.subjects(watchlist)  # unknown watchlist: NotFound before any model is loaded
    faces = _check_photos(
        photos, lambda: FacePhotoValidator.from_settings(context.pack, context.settings)
    )
    if not faces:
        raise InputError(
            f"no usable photo for {subject!r}; nothing was enrolled",
            hint="check the paths and use clear, front-facing photos of one person",
        )
    result = service.enroll(watchlist, subject, faces, actor=ACTOR)
    console.print(
        f"enrolled {result.subject_name} in {watchlist}: {result.templates_added} of {len(photos)} "
        "photos used",
        highlight=False,
    )


def _check_photos(
    photos: list[Path], validator: Callable[[], FacePhotoValidator]
) -> list[ValidatedFace]:
    """Validate each photo in order and print one line for it; the model loads only when at
    least one photo exists."""
    faces: list[ValidatedFace] = []
    checker: FacePhotoValidator | None = None
    for photo in photos:
        if not photo.is_file():
            console.print(f"not found {photo}: photo file not found", highlight=False)
            continue
        checker = checker or validator()
        try:
            face = checker.validate(photo.read_bytes(), photo.name)
        except EnrollmentRejected as exc:
            console.print(f"rejected {photo}: {exc.reason}: {exc}", highlight=False)
            continue
        faces.append(face)
        console.print(f"ok {photo}: quality {face.quality.score:.2f}", highlight=False)
    return faces


def _alert_line(event: AlertEvent, as_json: bool) -> str:
    a = event.alert
    if a is None:  # purged: only the id is left
        return (
            json.dumps({"alert_id": event.alert_id, "event": "purged"})
            if as_json
            else (f"ALERT #{event.alert_id} purged")
        )
    data = {
        "alert_id": a.id,
        "subject": a.subject_name,
        "watchlist": a.watchlist,
        "authorization": a.authorization_reference,
        "camera": a.camera,
        "score": round(a.score, 4),
        "first_seen": a.first_seen.isoformat(),
        "last_seen": a.last_seen.isoformat(),
        "status": a.status.value,
    }
    if as_json:
        return json.dumps(data)
    return (
        f"ALERT #{a.id} {a.subject_name} ({a.watchlist}, authorization "
        f"{a.authorization_reference}) on {a.camera}: score {a.score:.3f}, "
        f"{data['first_seen']} .. {data['last_seen']}"
    )


@cli_errors
def analyze(
    ctx: typer.Context,
    source: str = typer.Argument(..., help="video file, rtsp:// or http(s):// MJPEG URL"),
    camera: str = typer.Option(
        ..., "--camera", help="camera name (authorizations are scoped by it)"
    ),
    as_json: bool = typer.Option(False, "--json", help="one JSON object per alert line"),
    duration: float | None = typer.Option(
        None, "--duration", min=0.1, help="stop a stream after SECONDS"
    ),
    max_fps: float | None = typer.Option(
        None, "--max-fps", min=0.1, max=60.0, help="analysed frames/s cap"
    ),
) -> None:
    """Run the full pipeline over a file or stream and print each candidate alert."""
    from vigil.runtime.analyze import AlertPrinter, camera_config
    from vigil.runtime.analyze import analyze as run_analysis
    from vigil.services.alerts import AlertBus
    from vigil.sources.capture import source_kind

    context = state(ctx).context()
    config = camera_config(context, camera, source, max_fps)
    printer = AlertPrinter(
        lambda e: console.print(_alert_line(e, as_json), highlight=False, soft_wrap=True),
        live=source_kind(source) != "file",
    )
    bus = AlertBus()
    bus.subscribe(printer)
    with _progress(f"analysing {Path(source).name}") as progress:
        summary = run_analysis(context, config, bus, duration=duration, progress=progress)
    printer.finish()
    if not summary.watchlists:
        err_console.print(
            f"warning: no watchlist entry under an active authorization for the "
            f"{context.settings.model_pack} pack; nothing could match (`vigil authorization list`)",
            highlight=False,
        )
    err_console.print(
        f"{summary.frames_analysed} frames analysed of {summary.frames_decoded} decoded; "
        f"{summary.alerts} candidate alert(s)",
        highlight=False,
    )


class _progress:
    """A rich progress bar on a terminal; nothing otherwise."""

    def __init__(self, label: str) -> None:
        self.label = label
        self._bar: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> Callable[[int, int], None] | None:
        if not is_tty():
            return None
        self._bar = Progress(transient=True, console=err_console)
        self._bar.start()
        self._task = self._bar.add_task(self.label, total=None)
        return self._update

    def _update(self, done: int, total: int) -> None:
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=done, total=total or None)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.add_typer(authorization_app, name="authorization")
    app.add_typer(watchlist_app, name="watchlist")
    app.command("enroll")(enroll)
    app.command("analyze")(analyze)
