"""The command center's Prometheus metrics (served by ``vigil.web.api.metrics``).

Each app has its own :class:`~prometheus_client.CollectorRegistry` (never the global one):
camera figures are read from the supervisor's status snapshots at scrape time; alert counts,
review decisions and the alert latency histogram come from the AlertBus subscription.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from vigil.domain.events import AlertEvent
from vigil.sources.worker import CameraState, CameraStatus

REVIEW_DECISIONS = {"reviewed": "confirm", "confirmed": "confirm", "rejected": "reject"}
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)


def _camera_gauges() -> dict[str, GaugeMetricFamily]:
    """Per-camera gauges, keyed by the CameraStatus field they show."""
    return {
        "fps_in": GaugeMetricFamily(
            "vigil_camera_fps_in", "decoded frames per second", labels=["camera"]
        ),
        "fps_analysed": GaugeMetricFamily(
            "vigil_camera_fps_analysed", "analysed frames per second", labels=["camera"]
        ),
        "up": GaugeMetricFamily(
            "vigil_camera_up", "1 while the camera is connected", labels=["camera"]
        ),
    }


def _camera_counters() -> dict[str, CounterMetricFamily]:
    """Per-camera counters, keyed by the CameraStatus field they show."""
    return {
        "frames_in": CounterMetricFamily(
            "vigil_camera_frames_in", "decoded frames", labels=["camera"]
        ),
        "frames_analysed": CounterMetricFamily(
            "vigil_camera_frames_analysed", "frames handed to the analysis", labels=["camera"]
        ),
        "drops": CounterMetricFamily(
            "vigil_camera_drops",
            "frames dropped because the buffer was full",
            labels=["camera"],
        ),
        "skipped_by_cap": CounterMetricFamily(
            "vigil_camera_skipped_by_cap",
            "frames passed over by the max_fps cap",
            labels=["camera"],
        ),
        "reconnects": CounterMetricFamily(
            "vigil_camera_reconnects", "stream reopenings", labels=["camera"]
        ),
    }


class _CameraCollector(Collector):
    def __init__(self, statuses: Callable[[], Sequence[CameraStatus]]) -> None:
        self.statuses = statuses

    def collect(self) -> Iterator[Metric]:
        gauges, counters = _camera_gauges(), _camera_counters()
        placed = GaugeMetricFamily(
            "vigil_camera_node", "1 for the node running the camera", labels=["camera", "node"]
        )
        per_node = GaugeMetricFamily(
            "vigil_node_cameras", "cameras running on each node", labels=["node"]
        )
        nodes: dict[str, int] = {}
        for st in self.statuses():
            node = st.node or "local"
            nodes[node] = nodes.get(node, 0) + 1
            placed.add_metric([st.camera, node], 1.0)
            gauges["fps_in"].add_metric([st.camera], st.fps_in)
            gauges["fps_analysed"].add_metric([st.camera], st.fps_analysed)
            gauges["up"].add_metric([st.camera], 1.0 if st.state == CameraState.CONNECTED else 0.0)
            for key, family in counters.items():
                family.add_metric([st.camera], float(getattr(st, key)))
        for node, count in sorted(nodes.items()):
            per_node.add_metric([node], float(count))
        yield from gauges.values()
        yield from counters.values()
        yield placed
        yield per_node


class VigilMetrics:
    """The metrics of one app. ``on_alert`` is an AlertBus callback (cheap, never blocks)."""

    def __init__(self, statuses: Callable[[], Sequence[CameraStatus]]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.alerts = Counter(
            "vigil_alerts",
            "alert events by camera and kind",
            ["camera", "kind"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "vigil_alert_latency_seconds",
            "time from the best frame's capture to the candidate alert's announcement",
            ["camera"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.reviews = Counter(
            "vigil_reviews", "alert reviews by decision", ["decision"], registry=self.registry
        )
        self.registry.register(_CameraCollector(statuses))

    def on_alert(self, event: AlertEvent) -> None:
        """Count one alert event (a purged one names no camera and is not counted)."""
        if event.alert is None:
            return
        camera = event.alert.camera
        self.alerts.labels(camera, event.kind).inc()
        if event.kind in REVIEW_DECISIONS:
            self.reviews.labels(REVIEW_DECISIONS[event.kind]).inc()
        if event.kind == "candidate" and event.captured_monotonic > 0:
            self.latency.labels(camera).observe(
                max(0.0, time.monotonic() - event.captured_monotonic)
            )

    def render(self, *, camera_names: bool = True) -> bytes:
        """The text exposition; without ``camera_names`` (anonymous scrapers) every sample
        labelled with a camera is left out, keeping only figures that name no camera."""
        text = generate_latest(self.registry)
        if camera_names:
            return text
        lines = text.split(b"\n")
        hidden = (b'camera="', b'node="')  # node addresses are internal too
        return b"\n".join(line for line in lines if not any(h in line for h in hidden))
