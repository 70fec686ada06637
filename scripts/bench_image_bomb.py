"""Cost of a decompression-bomb photo under the enrollment limits (figures only, never asserted).

    .venv/bin/python scripts/bench_image_bomb.py [--mpx 11.9 39.7]

For each size it builds a flat PNG of that many megapixels (a few hundred KB: the red-team's
bomb was 116 KB for 39.7 Mpx) and, in a fresh child process each, passes it to
``vigil.imaging.decode_image`` with the default limits (``Settings.max_image_bytes``,
``Settings.max_image_pixels``). Prints one JSON object: per size the file's bytes, whether it was
refused (and the message), CPU seconds and the child's peak RSS.
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import subprocess
import sys
import time

CHILD = r"""
import io, json, resource, sys, time
from vigil.config import Settings
from vigil.errors import VigilError
from vigil.imaging import decode_image
data = sys.stdin.buffer.read()
fields = Settings.model_fields
t0 = time.process_time()
try:
    image = decode_image(data, name="bomb.png", max_bytes=fields["max_image_bytes"].default,
                         max_pixels=fields["max_image_pixels"].default)
    refused = None
except VigilError as err:
    refused = str(err)
cpu = time.process_time() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
row = {"refused": refused, "cpu_seconds": round(cpu, 2), "peak_rss_mib": round(peak, 1)}
print(json.dumps(row))
"""


def bomb(mpx: float) -> bytes:
    from PIL import Image

    side = int((mpx * 1_000_000) ** 0.5)
    out = io.BytesIO()
    Image.new("L", (side, side), 128).save(out, format="PNG", optimize=True)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mpx", type=float, nargs="+", default=[11.9, 39.7])
    args = parser.parse_args()
    rows = []
    for mpx in args.mpx:
        data = bomb(mpx)
        started = time.perf_counter()
        child = subprocess.run(
            [sys.executable, "-c", CHILD], input=data, capture_output=True, check=True
        )
        row = {"megapixels": mpx, "file_bytes": len(data)}
        row.update(json.loads(child.stdout))
        row["wall_seconds"] = round(time.perf_counter() - started, 2)
        rows.append(row)
    load = [round(x, 2) for x in __import__("os").getloadavg()]
    print(
        json.dumps(
            {
                "runs": rows,
                "load_average": load,
                "cpus": __import__("os").cpu_count(),
                "parent_peak_rss_mib": round(
                    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1
                ),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
