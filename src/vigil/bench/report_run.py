"""A real multi-camera run for the transparency report figures in docs/.

    python -m vigil.bench.report_run --home /tmp/vigil-run --cameras 4 --minutes 10

Builds (or reuses) a deployment in HOME with the ONNX pack from the shared data, an
authorization and watchlist with Lin-Manuel Miranda enrolled from his photo, then runs N cameras
that each loop the Hamilton clip (paced at its own frame rate, ``max_fps`` analysed frames per
second) through the same CameraRunner the Supervisor uses, with the accountability jobs (audit
signing, retention) running alongside. Prints the period as ISO times for ``vigil report``.
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from vigil.accountability.jobs import AccountabilityJobs
from vigil.config import CameraConfig, load_settings
from vigil.context import AppContext, build_context
from vigil.db.models import Authorization
from vigil.runtime.runner import CameraRunner
from vigil.services.alerts import AlertBus
from vigil.services.cases import CaseSetup, open_case
from vigil.sources.worker import CameraWorker
from vigil.timeutil import utcnow

REFERENCE = "DEMO-ORDER-1"


def _prepare(ctx: AppContext, shared: Path) -> None:
    with ctx.db.read() as s:
        if s.scalar(select(Authorization.id).where(Authorization.reference == REFERENCE)):
            return
    case = CaseSetup(
        reference=REFERENCE,
        legal_basis="demo order",
        authority="Demo Court",
        watchlist="demo",
        subject="Lin-Manuel Miranda",
        valid_for=timedelta(days=30),
    )
    open_case(ctx, case, [shared / "data" / "photos" / "lin-manuel-miranda.png"], actor="bench")


def run(home: Path, cameras: int, minutes: float, max_fps: float) -> None:
    shared = Path(
        os.environ.get("VIGIL_SHARED") or Path(__file__).resolve().parents[3].parent / "shared"
    )
    models = shared / "models"
    settings = load_settings(
        {
            "VIGIL_HOME": str(home),
            "VIGIL_MODEL_PACK": "onnx",
            "VIGIL_ONNX_DETECTOR": str(models / "yunet_2023mar.onnx"),
            "VIGIL_ONNX_EMBEDDER": str(models / "mobilefacenet.onnx"),
        }
    )
    ctx = build_context(settings)
    _prepare(ctx, shared)
    clip = shared / "data" / "video" / "short_hamilton_clip.mp4"
    bus = AlertBus()
    jobs = AccountabilityJobs(ctx.db, ctx.settings)
    jobs.start(interval=60.0)
    start = utcnow()
    runners = []
    for i in range(cameras):
        cam = CameraConfig(name=f"cam-{i + 1}", url=str(clip), max_fps=max_fps)
        worker = CameraWorker(cam, settings.sources, loop=True)
        # One shared pack (ctx.pack) for all cameras, as the Supervisor does.
        runners.append(CameraRunner(ctx, cam, bus, worker=worker).start())
    print(f"started {cameras} cameras at {start.isoformat()}", flush=True)
    time.sleep(minutes * 60.0)
    for runner in runners:
        runner.stop()
    end = utcnow()
    jobs.stop()
    jobs.run_once()
    for runner in runners:
        print(runner.status(), flush=True)
    print(
        f"FROM={start.isoformat()} TO={end.isoformat()} SECONDS={(end - start).total_seconds():.0f}"
    )
    ctx.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m vigil.bench.report_run")
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--cameras", type=int, default=4)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--max-fps", type=float, default=5.0)
    args = parser.parse_args()
    run(args.home, args.cameras, args.minutes, args.max_fps)


if __name__ == "__main__":
    main()
