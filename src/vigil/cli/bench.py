"""Benchmark commands (figures only): ``vigil bench lfw | throughput | openset | gallery``.

    vigil bench lfw --pack dlib|onnx [--json] [--limit-pairs N] [--workers N] [--lfw DIR]
    vigil bench throughput SOURCE --pack dlib|onnx [--json] [--naive] [--photo P ...]
    vigil bench openset --pack dlib|onnx [--n 100,1000,max] [--cctv] [--json]
                        [--cache DIR] [--workers N]
    vigil bench gallery --size N --dim D [--index auto|numpy|hnsw|usearch|ivf|pqfs|faiss] [--json]

The options of the commands with many of them are declared below as module constants (like
:data:`vigil.cli.common.LFW_OPTION`) and grouped into the benchmark's options object by a helper.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

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
from vigil.config import Settings
from vigil.errors import InputError

if TYPE_CHECKING:
    from vigil.bench.gallery import GalleryBenchConfig
    from vigil.bench.lfw import LfwResult
    from vigil.bench.openset import OpensetOptions

bench_app = typer.Typer(help="Benchmarks (figures only).", no_args_is_help=True)

PACK_OPTION: Any = typer.Option(..., "--pack", help="dlib or onnx")
JSON_OPTION_HELP = "last line: a JSON object with the figures"


def _json_option() -> Any:
    return typer.Option(False, "--json", help=JSON_OPTION_HELP)


def _workers_option(what: str) -> Any:
    return typer.Option(
        1, "--workers", min=1, max=64, help=f"processes to spread {what} over (one per core)"
    )


# ------------------------------------------------------------------------------------- lfw


@cli_errors
def bench_lfw(
    ctx: typer.Context,
    pack: str = PACK_OPTION,
    as_json: bool = _json_option(),
    limit_pairs: int | None = typer.Option(
        None, "--limit-pairs", min=2, help="pairs kept per fold"
    ),
    workers: int = _workers_option("the work"),
    lfw: Path | None = LFW_OPTION,
) -> None:
    """LFW 10-fold verification accuracy of a model pack."""
    from vigil.bench.lfw import run_lfw

    settings = state(ctx).settings()
    result = run_lfw(settings, pack, lfw=lfw_folder(lfw), limit_pairs=limit_pairs, workers=workers)
    _print_lfw(result, as_json)


def _print_lfw(result: LfwResult, as_json: bool) -> None:
    from vigil.bench.lfw import threshold_at_fpr

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


# ------------------------------------------------------------------------------ throughput


@cli_errors
def bench_throughput(
    ctx: typer.Context,
    source: Path = typer.Argument(..., help="a video file"),
    pack: str = PACK_OPTION,
    as_json: bool = _json_option(),
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


# --------------------------------------------------------------------------------- openset

OPENSET_SIZES: Any = typer.Option(
    "100,1000,max", "--n", help="gallery sizes (enrolled identities), 'max' = all the half has"
)
OPENSET_CCTV: Any = typer.Option(
    False, "--cctv", help="also CCTV-like probes: small faces, blur, JPEG 40 (per face size)"
)
OPENSET_FACE_SIZES: Any = typer.Option(
    "24,32,48,64", "--face-sizes", help="CCTV-like face widths in px (landmark-based)"
)
OPENSET_MATED: Any = typer.Option(
    2, "--mated-per-id", min=1, max=50, help="mated probes per enrolled identity at most"
)
OPENSET_NONMATED: Any = typer.Option(
    1000, "--nonmated", min=10, max=5000, help="non-mated probes per half (one per person)"
)
OPENSET_VIDEO_FPIR: Any = typer.Option(
    0.001, "--video-fpir", min=0.0, max=0.5, help="FPIR the video threshold is chosen at"
)
OPENSET_VIDEO_N: Any = typer.Option(
    1000, "--video-n", min=1, help="gallery size the video threshold is chosen at"
)
OPENSET_CACHE: Any = typer.Option(
    None, "--cache", file_okay=False, help="embedding cache (default: HOME/cache/openset)"
)


@cli_errors
def bench_openset(
    ctx: typer.Context,
    pack: str = PACK_OPTION,
    sizes: str = OPENSET_SIZES,
    cctv: bool = OPENSET_CCTV,
    face_sizes: str = OPENSET_FACE_SIZES,
    mated_per_id: int = OPENSET_MATED,
    nonmated: int = OPENSET_NONMATED,
    video_fpir: float = OPENSET_VIDEO_FPIR,
    video_n: int = OPENSET_VIDEO_N,
    cache: Path | None = OPENSET_CACHE,
    workers: int = _workers_option("the embedding"),
    as_json: bool = _json_option(),
    lfw: Path | None = LFW_OPTION,
) -> None:
    """Open-set 1:N figures on LFW: FNIR at FPIR 1% and 0.1%, per gallery size (and face size)."""
    from vigil.bench.openset import OpensetOptions, parse_face_sizes, parse_sizes

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
    cache_dir = cache or settings.home / "cache" / "openset"
    _run_openset(settings, pack, options, lfw=lfw_folder(lfw), cache_dir=cache_dir, as_json=as_json)


def _openset_progress(variant: str, done: int, total: int) -> None:
    if is_tty():
        err_console.print(f"  {variant}: {done}/{total}", end="\r", highlight=False)


def _run_openset(
    settings: Settings,
    pack: str,
    options: OpensetOptions,
    *,
    lfw: Path,
    cache_dir: Path,
    as_json: bool,
) -> None:
    from vigil.bench.openset import run_openset
    from vigil.bench.openset_text import report_lines
    from vigil.models.registry import create_pack, in_process

    model = create_pack(in_process(settings), pack)  # as measured before dlib.workers existed
    report = run_openset(
        settings,
        model,
        lfw=lfw,
        cache_dir=cache_dir,
        options=options,
        progress=_openset_progress,
    )
    for line in report_lines(report):
        console.print(line, highlight=False, markup=False)
    if as_json:
        console.print(report.to_json(), highlight=False, soft_wrap=True)


# --------------------------------------------------------------------------------- gallery

GALLERY_SIZE: Any = typer.Option(100_000, "--size", min=1, max=20_000_000, help="templates")
GALLERY_DIM: Any = typer.Option(128, "--dim", min=2, max=4096, help="vector dimension")
GALLERY_INDEX: Any = typer.Option(
    "auto", "--index", help="auto, numpy, hnsw, usearch, ivf, pqfs or faiss"
)
GALLERY_PROBES: Any = typer.Option(1000, "--probes", min=10, max=100_000, help="probes searched")
GALLERY_AUTHORIZATIONS: Any = typer.Option(
    4, "--authorizations", min=1, max=1000, help="authorizations (the last is out of scope)"
)
GALLERY_EXACT_BELOW: Any = typer.Option(
    20_000, "--exact-below", min=0, help="a partition under this size is searched exactly"
)
GALLERY_SEED: Any = typer.Option(0, "--seed", min=0, help="gallery and probe seed (tune on one)")


@cli_errors
def bench_gallery(
    size: int = GALLERY_SIZE,
    dim: int = GALLERY_DIM,
    index: str = GALLERY_INDEX,
    probes: int = GALLERY_PROBES,
    authorizations: int = GALLERY_AUTHORIZATIONS,
    exact_below: int = GALLERY_EXACT_BELOW,
    hnsw_m: int | None = typer.Option(None, "--hnsw-m", min=4, max=128, help="graph degree"),
    ef_construction: int | None = typer.Option(None, "--hnsw-ef-construction", min=8, max=1000),
    ef_search: int | None = typer.Option(None, "--hnsw-ef-search", min=8, max=2000),
    usearch_dtype: str | None = typer.Option(None, "--usearch-dtype", help="f32, f16 or i8"),
    ivf_lists: int | None = typer.Option(None, "--ivf-lists", min=1, max=65536),
    ivf_probes: int | None = typer.Option(None, "--ivf-probes", min=1, max=4096),
    build_threads: int | None = typer.Option(None, "--build-threads", min=1, max=256),
    seed: int = GALLERY_SEED,
    as_json: bool = _json_option(),
) -> None:
    """Gallery index: build time, p50/p99 search on one core, recall@1 vs exact, RSS."""
    from vigil.bench.gallery import GalleryBenchConfig
    from vigil.faces.index import INDEX_KINDS

    if index not in INDEX_KINDS:
        raise InputError(f"unknown index {index!r}", hint=f"use one of {', '.join(INDEX_KINDS)}")
    tuning = _given(
        hnsw_m=hnsw_m,
        hnsw_ef_construction=ef_construction,
        hnsw_ef_search=ef_search,
        usearch_dtype=usearch_dtype,
        ivf_lists=ivf_lists,
        ivf_probes=ivf_probes,
        build_threads=build_threads,
    )
    config = GalleryBenchConfig(
        size,
        dim,
        index=index,
        probes=probes,
        authorizations=authorizations,
        exact_below=exact_below,
        tuning=tuning,
        seed=seed,
    )
    _run_gallery(config, as_json)


def _given(**values: int | str | None) -> dict[str, int | str]:
    """The keyword arguments that were given (not None), in their order."""
    return {name: value for name, value in values.items() if value is not None}


def _run_gallery(config: GalleryBenchConfig, as_json: bool) -> None:
    from vigil.bench.gallery import run_gallery_bench

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
    """Add the benchmark commands to the root app, under ``vigil bench``."""
    bench_app.command("lfw")(bench_lfw)
    bench_app.command("throughput")(bench_throughput)
    bench_app.command("openset")(bench_openset)
    bench_app.command("gallery")(bench_gallery)
    app.add_typer(bench_app, name="bench")
