"""Core CLI: authorizations, watchlists, enrollment, analysing a video or stream, benchmarks.

    vigil authorization add REF --purpose missing_person --legal-basis TEXT --authority TEXT \\
        --expires 2026-12-31T23:59Z [--valid-from ISO] [--cameras cam1,cam2]
    vigil authorization list | revoke REF | refuse REF
    vigil watchlist add NAME --authorization REF | list
    vigil enroll WATCHLIST "SUBJECT NAME" PHOTO [PHOTO...]
    vigil analyze SOURCE --camera NAME [--json] [--duration S] [--max-fps F]
    vigil bench lfw --pack dlib|onnx [--json] [--limit-pairs N] [--workers N] [--lfw DIR]
    vigil bench throughput SOURCE --pack dlib|onnx [--json] [--naive] [--photo P ...]
    vigil bench openset --pack dlib|onnx [--n 100,1000,max] [--cctv] [--json]
                        [--cache DIR] [--workers N]
    vigil bench gallery --size N --dim D [--index auto|numpy|hnsw|usearch|ivf|faiss] [--json]
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import typer
from rich.progress import Progress, TaskID

from vigil.accountability.threshold import configured_threshold
from vigil.cli.common import (
    LFW_OPTION,
    cli_errors,
    console,
    err_console,
    is_tty,
    lfw_folder,
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
    purged = AuthorizationService(state(ctx).context().db).end(reference, status, actor=ACTOR)
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


bench_app = typer.Typer(help="Benchmarks (figures only).", no_args_is_help=True)


@cli_errors
def bench_lfw(
    ctx: typer.Context,
    pack: str = typer.Option(..., "--pack", help="dlib or onnx"),
    as_json: bool = typer.Option(False, "--json", help="last line: a JSON object with the figures"),
    limit_pairs: int | None = typer.Option(
        None, "--limit-pairs", min=2, help="pairs kept per fold"
    ),
    workers: int = typer.Option(
        1, "--workers", min=1, max=64, help="processes to spread the work over (one per core)"
    ),
    lfw: Path | None = LFW_OPTION,
) -> None:
    """LFW 10-fold verification accuracy of a model pack."""
    from vigil.bench.lfw import run_lfw, threshold_at_fpr

    settings = state(ctx).settings()
    result = run_lfw(settings, pack, lfw=lfw_folder(lfw), limit_pairs=limit_pairs, workers=workers)
    console.print(
        f"LFW {result.pack}: accuracy {result.accuracy_mean * 100:.2f}% +- "
        f"{result.accuracy_std * 100:.2f}, threshold {result.threshold_mean:.3f} "
        f"({result.pairs} pairs, {result.images} images, {result.seconds:.0f} s)",
        highlight=False,
    )
    if result.upscaled_detections or result.thorough_detections:
        console.print(
            f"faces found only at 2x: {result.upscaled_detections}; only by the still-photo "
            f"detector: {result.thorough_detections}",
            highlight=False,
        )
    if result.accuracy_detected_pairs is not None:
        console.print(
            f"{result.no_detection} images had no detection (centre-box fallback); "
            f"pairs with both images detected: {result.accuracy_detected_pairs * 100:.2f}%",
            highlight=False,
        )
    strict = threshold_at_fpr(result, 0.001)
    console.print(
        f"threshold at 0.1% false positives: {strict.threshold:.3f} "
        f"(true-match rate {strict.tpr * 100:.1f}%)",
        highlight=False,
    )
    if as_json:
        data = result.summary() | {
            "accuracy": result.accuracy_mean,
            "std": result.accuracy_std,
            "threshold": result.threshold_mean,
            "threshold_fpr_0.001": strict.threshold,
            "tpr_at_fpr_0.001": strict.tpr,
        }
        console.print(json.dumps(data), highlight=False, soft_wrap=True)


@cli_errors
def bench_throughput(
    ctx: typer.Context,
    source: Path = typer.Argument(..., help="a video file"),
    pack: str = typer.Option(..., "--pack", help="dlib or onnx"),
    as_json: bool = typer.Option(False, "--json", help="last line: a JSON object with the figures"),
    naive: bool = typer.Option(
        False, "--naive", help="also run the naive every-frame loop to compare"
    ),
    photos: list[Path] = typer.Option([], "--photo", help="subject photo for an in-memory gallery"),
    max_fps: float = typer.Option(
        5.0, "--max-fps", min=0.0, max=120.0, help="pipeline fps cap; 0 = every frame"
    ),
) -> None:
    """Frames/s, faces embedded/s and alerts of the pipeline (and the naive loop) on a file."""
    from vigil.bench.throughput import memory_gallery, run_throughput
    from vigil.models.registry import create_pack, in_process
    from vigil.pipeline.matcher import SnapshotSource
    from vigil.services.gallery import ActiveGallery

    if not source.is_file():
        raise InputError(f"video file not found: {source}", hint="give the path of a video file")
    settings = state(ctx).settings().model_copy(update={"model_pack": pack})
    # in this process: the benchmark counts this process's CPU time
    model = create_pack(in_process(settings), pack)
    gallery: SnapshotSource
    if photos:
        gallery = memory_gallery(
            settings, model, photos, configured_threshold(settings, model.name)
        )
    else:
        context = state(ctx).context()
        gallery = ActiveGallery(context.db, context.cipher, settings, model.name)
    result = run_throughput(settings, model, gallery, source, max_fps=max_fps or None, naive=naive)
    for run in (result.pipeline, result.naive):
        if run is not None:
            console.print(
                f"{run.mode:8} {run.pack}: {run.video_fps:.1f} video frames/s "
                f"({run.frames_analysed} analysed, {run.analysed_fps:.1f}/s), "
                f"{run.faces_embedded} faces embedded ({run.embedded_per_second:.1f}/s), "
                f"{run.alerts} alerts, subjects {', '.join(run.subjects) or '-'}",
                highlight=False,
            )
    if result.speedup is not None:
        console.print(f"speedup {result.speedup:.1f}x", highlight=False)
    if as_json:
        console.print(result.to_json(), highlight=False, soft_wrap=True)


@cli_errors
def bench_openset(
    ctx: typer.Context,
    pack: str = typer.Option(..., "--pack", help="dlib or onnx"),
    sizes: str = typer.Option(
        "100,1000,max", "--n", help="gallery sizes (enrolled identities), 'max' = all the half has"
    ),
    cctv: bool = typer.Option(
        False, "--cctv", help="also CCTV-like probes: small faces, blur, JPEG 40 (per face size)"
    ),
    face_sizes: str = typer.Option(
        "24,32,48,64", "--face-sizes", help="CCTV-like face widths in px (landmark-based)"
    ),
    mated_per_id: int = typer.Option(
        2, "--mated-per-id", min=1, max=50, help="mated probes per enrolled identity at most"
    ),
    nonmated: int = typer.Option(
        1000, "--nonmated", min=10, max=5000, help="non-mated probes per half (one per person)"
    ),
    video_fpir: float = typer.Option(
        0.001, "--video-fpir", min=0.0, max=0.5, help="FPIR the video threshold is chosen at"
    ),
    video_n: int = typer.Option(
        1000, "--video-n", min=1, help="gallery size the video threshold is chosen at"
    ),
    cache: Path | None = typer.Option(
        None, "--cache", file_okay=False, help="embedding cache (default: HOME/cache/openset)"
    ),
    workers: int = typer.Option(
        1, "--workers", min=1, max=64, help="processes to spread the embedding over (one per core)"
    ),
    as_json: bool = typer.Option(False, "--json", help="last line: a JSON object with the figures"),
    lfw: Path | None = LFW_OPTION,
) -> None:
    """Open-set 1:N figures on LFW: FNIR at FPIR 1% and 0.1%, per gallery size (and face size)."""
    from vigil.bench.openset import OpensetOptions, parse_face_sizes, parse_sizes, run_openset
    from vigil.bench.openset_text import report_lines
    from vigil.models.registry import create_pack, in_process

    options = OpensetOptions(
        sizes=parse_sizes(sizes),
        mated_per_id=mated_per_id,
        nonmated=nonmated,
        cctv=cctv,
        face_sizes=parse_face_sizes(face_sizes),
        video_fpir=video_fpir,
        video_n=video_n,
        workers=workers,
    )
    settings = state(ctx).settings()
    model = create_pack(in_process(settings), pack)  # as measured before dlib.workers existed

    def progress(variant: str, done: int, total: int) -> None:
        if is_tty():
            err_console.print(f"  {variant}: {done}/{total}", end="\r", highlight=False)

    report = run_openset(
        settings,
        model,
        lfw=lfw_folder(lfw),
        cache_dir=cache or settings.home / "cache" / "openset",
        options=options,
        progress=progress,
    )
    for line in report_lines(report):
        console.print(line, highlight=False, markup=False)
    if as_json:
        console.print(report.to_json(), highlight=False, soft_wrap=True)


@cli_errors
def bench_gallery(
    size: int = typer.Option(100_000, "--size", min=1, max=20_000_000, help="templates"),
    dim: int = typer.Option(128, "--dim", min=2, max=4096, help="vector dimension"),
    index: str = typer.Option("auto", "--index", help="auto, numpy, hnsw, usearch, ivf or faiss"),
    probes: int = typer.Option(1000, "--probes", min=10, max=100_000, help="probes searched"),
    authorizations: int = typer.Option(
        4, "--authorizations", min=1, max=1000, help="authorizations (the last is out of scope)"
    ),
    exact_below: int = typer.Option(
        20_000, "--exact-below", min=0, help="a partition under this size is searched exactly"
    ),
    hnsw_m: int | None = typer.Option(None, "--hnsw-m", min=4, max=128, help="graph degree"),
    ef_construction: int | None = typer.Option(None, "--hnsw-ef-construction", min=8, max=1000),
    ef_search: int | None = typer.Option(None, "--hnsw-ef-search", min=8, max=2000),
    usearch_dtype: str | None = typer.Option(None, "--usearch-dtype", help="f32, f16 or i8"),
    ivf_lists: int | None = typer.Option(None, "--ivf-lists", min=1, max=65536),
    ivf_probes: int | None = typer.Option(None, "--ivf-probes", min=1, max=4096),
    build_threads: int | None = typer.Option(None, "--build-threads", min=1, max=256),
    seed: int = typer.Option(0, "--seed", min=0, help="gallery and probe seed (tune on one)"),
    as_json: bool = typer.Option(False, "--json", help="last line: a JSON object with the figures"),
) -> None:
    """Gallery index: build time, p50/p99 search on one core, recall@1 vs exact, RSS."""
    from vigil.bench.gallery import GalleryBenchConfig, run_gallery_bench
    from vigil.faces.index import INDEX_KINDS

    if index not in INDEX_KINDS:
        raise InputError(f"unknown index {index!r}", hint=f"use one of {', '.join(INDEX_KINDS)}")
    config = GalleryBenchConfig(
        size,
        dim,
        index=index,
        probes=probes,
        authorizations=authorizations,
        exact_below=exact_below,
        tuning={
            name: value
            for name, value in (
                ("hnsw_m", hnsw_m),
                ("hnsw_ef_construction", ef_construction),
                ("hnsw_ef_search", ef_search),
                ("usearch_dtype", usearch_dtype),
                ("ivf_lists", ivf_lists),
                ("ivf_probes", ivf_probes),
                ("build_threads", build_threads),
            )
            if value is not None
        },
        seed=seed,
    )
    result = run_gallery_bench(config)
    console.print(
        f"gallery {result.size} x {result.dim} ({', '.join(result.index_kinds)}): build "
        f"{result.build_seconds:.1f} s, search p50 {result.search_p50_ms:.2f} ms p99 "
        f"{result.search_p99_ms:.2f} ms, recall@1 {result.recall_at_1:.4f}, gallery RSS "
        f"{result.rss_gallery_mb:.0f} MiB",
        highlight=False,
    )
    if as_json:
        console.print(result.to_json(), highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.add_typer(authorization_app, name="authorization")
    app.add_typer(watchlist_app, name="watchlist")
    app.command("enroll")(enroll)
    app.command("analyze")(analyze)
    bench_app.command("lfw")(bench_lfw)
    bench_app.command("throughput")(bench_throughput)
    bench_app.command("openset")(bench_openset)
    bench_app.command("gallery")(bench_gallery)
    app.add_typer(bench_app, name="bench")
