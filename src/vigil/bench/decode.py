"""Decode speed of video sources: frames per second from a file, RTSP or MJPEG URL, and the
throughput of several capture workers running side by side.

    python -m vigil.bench.decode CLIP_OR_URL [...] [--seconds 10] [--frames N]
    python -m vigil.bench.decode CLIP --workers 4 [--paced]   # 4 cameras looping the clip

To measure RTSP, serve the clip first: ``python tests/rtsp_server.py CLIP`` prints the URL.
A live stream can only be decoded as fast as it is sent (an RTSP camera at 30 fps gives 30);
files decode as fast as the CPU allows. :func:`measure_decode` converts every frame to BGR (what
an analysed frame costs); capture workers convert only the frames the analysis takes, so
:func:`measure_workers`, which takes none, measures decoding alone.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, dataclass

from vigil.config import CameraConfig, SourceConfig
from vigil.errors import VigilError
from vigil.sources.capture import SourceSpec, open_source, redact_url, source_kind
from vigil.sources.worker import FLAT_OUT, REALTIME, CameraWorker


@dataclass(frozen=True, slots=True)
class DecodeFigures:
    url: str
    kind: str
    open_seconds: float  # until the source was open
    first_frame_seconds: float  # from the start of the open to the first frame
    frames: int
    seconds: float  # decoding time of ``frames`` (after the first)
    fps: float
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class WorkerFigures:
    url: str
    workers: int
    paced: bool
    seconds: float
    frames_in: int  # all workers together
    fps_in_total: float
    fps_in_per_worker: float  # frames_in / seconds / workers (opening time included)
    fps_in_moving_per_worker: float  # the workers' own moving averages (last 5 s), mean
    drops: int


def measure_decode(
    url: str,
    *,
    max_seconds: float = 10.0,
    max_frames: int | None = None,
    config: SourceConfig | None = None,
) -> DecodeFigures:
    """Decode ``url`` for up to ``max_seconds`` / ``max_frames`` (a file: to its end at most)."""
    started = time.perf_counter()
    source = open_source(SourceSpec(url, "bench", config or SourceConfig()))
    opened = time.perf_counter()
    try:
        pending = source.read()
        first = None if pending is None else pending.frame()
        if first is None:
            raise VigilError(
                f"{redact_url(url)} gave no frame",
                hint="Check the source with `vigil`'s connection test.",
            )
        t0 = time.perf_counter()
        frames, t_end = 0, t0
        while (max_frames is None or frames < max_frames) and t_end - t0 < max_seconds:
            frame = source.read()
            if frame is None:
                break
            frame.frame()  # converted to BGR, as an analysed frame is
            frames += 1
            t_end = time.perf_counter()
    finally:
        source.close()
    seconds = t_end - t0
    height, width = first.image.shape[:2]
    return DecodeFigures(
        url=redact_url(url),
        kind=source_kind(url),
        open_seconds=round(opened - started, 3),
        first_frame_seconds=round(t0 - started, 3),
        frames=frames,
        seconds=round(seconds, 3),
        fps=round(frames / seconds, 1) if seconds > 0 else 0.0,
        width=width,
        height=height,
    )


def measure_workers(
    url: str, *, workers: int = 4, seconds: float = 10.0, paced: bool = False
) -> WorkerFigures:
    """Run ``workers`` capture workers on the same source (files loop) for ``seconds``."""
    cams = [
        CameraWorker(
            CameraConfig(name=f"bench{i}", url=url, max_fps=60),
            loop=True,
            playback=REALTIME if paced else FLAT_OUT,
        )
        for i in range(workers)
    ]
    for worker in cams:
        worker.start()
    time.sleep(seconds)
    statuses = [worker.status() for worker in cams]
    for worker in cams:
        worker.stop()
    total = sum(s.frames_in for s in statuses)
    return WorkerFigures(
        url=redact_url(url),
        workers=workers,
        paced=paced,
        seconds=seconds,
        frames_in=total,
        fps_in_total=round(total / seconds, 1),
        fps_in_per_worker=round(total / seconds / workers, 1),
        fps_in_moving_per_worker=round(sum(s.fps_in for s in statuses) / workers, 1),
        drops=sum(s.drops for s in statuses),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vigil.bench.decode", description=__doc__.split("\n")[0]
    )
    parser.add_argument("urls", nargs="+", help="video files, rtsp:// or http(s):// MJPEG URLs")
    parser.add_argument("--seconds", type=float, default=10.0, help="time limit per source")
    parser.add_argument("--frames", type=int, default=None, help="frame limit per source")
    parser.add_argument(
        "--workers", type=int, default=0, help="run N capture workers per source instead"
    )
    parser.add_argument(
        "--paced", action="store_true", help="workers pace files at their frame rate"
    )
    args = parser.parse_args(argv)
    try:
        for url in args.urls:
            if args.workers:
                figures: object = measure_workers(
                    url, workers=args.workers, seconds=args.seconds, paced=args.paced
                )
            else:
                figures = measure_decode(url, max_seconds=args.seconds, max_frames=args.frames)
            print(json.dumps(asdict(figures)))  # type: ignore[call-overload]
    except VigilError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
