"""Dependencies that would phone home, switched off by Vigil itself (not by documentation).

:func:`switch_off` is called by the ``vigil`` command before any sub-command runs (never at
import time). It always sets:

* ``RAY_USAGE_STATS_ENABLED=0``: Ray's usage statistics (also set by ``runtime.ray_cluster``);
* ``HF_HUB_OFFLINE=1``, ``HF_HUB_DISABLE_TELEMETRY=1``: no Hugging Face Hub download or telemetry,
  should any library pull ``huggingface_hub`` in (Vigil loads its models from local files only);
* ``DO_NOT_TRACK=1``: the cross-tool convention honoured by several libraries;
* ``ORT_DISABLE_TELEMETRY=1`` (and ``ORT_TELEMETRY_DISABLED=1``, the name in some releases):
  onnxruntime 1.29+ ships Microsoft's 1DS telemetry on Linux too, which resolved and contacted
  ``mobile.events.data.microsoft.com`` (found by ``tests/e2e/test_no_call_home.py``);
  ``onnxruntime.disable_telemetry_events()`` does not stop it, the variable, set before
  onnxruntime starts, does.

Checked and found silent at run time: uvicorn, FastAPI/Starlette, dlib, OpenCV, paho-mqtt,
httpx, prometheus_client. The Swagger UI, which loaded its assets from a CDN, is not served (the
OpenAPI JSON stays at ``/api/openapi.json``).
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

OFF = {
    "RAY_USAGE_STATS_ENABLED": "0",
    "HF_HUB_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    "ORT_DISABLE_TELEMETRY": "1",
    "ORT_TELEMETRY_DISABLED": "1",
}


def switch_off(environ: MutableMapping[str, str] | None = None) -> None:
    """Set every variable in :data:`OFF` in ``environ`` (default ``os.environ``)."""
    env = os.environ if environ is None else environ
    for name, value in OFF.items():
        env[name] = value
