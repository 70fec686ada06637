"""``vigil cluster status``: the cluster's nodes, the camera actors on each, their gallery.

Read from Ray (nodes) and from each camera actor's report; the database is not needed. The
gallery ``lag`` of an actor is how many versions it is behind the newest one any actor holds
from the same command center, and ``gallery_age_seconds`` how old its release is (it is resent
at least every ``runtime.gallery_publish_seconds``). ``gallery_entries`` counts its templates: 0
once a revocation or expiry emptied the gallery it matches against.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from vigil.config import RuntimeConfig
from vigil.runtime.ray_cluster import NodeInfo, connect, nodes
from vigil.runtime.wire import ACTOR_PREFIX, ActorReport
from vigil.timeutil import utcnow

REPORT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class ActorRow:
    camera: str
    node_id: str | None
    node_ip: str | None
    state: str
    fps_analysed: float
    gallery_version: int
    gallery_entries: int  # templates in the gallery it matches against (0: it matches no one)
    gallery_lag: int
    gallery_age_seconds: float | None
    pending: int  # candidates the actor holds until the command center stores them
    dropped: int  # candidates dropped because its queue was full
    dropped_sightings: int  # sighting updates dropped because their queue was full


@dataclass(frozen=True, slots=True)
class NodeRow:
    node_id: str
    address: str
    alive: bool
    cpus: float
    cameras: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ClusterStatus:
    nodes: tuple[NodeRow, ...]
    actors: tuple[ActorRow, ...]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _row(camera: str, report: ActorReport | None, newest: dict[str, int]) -> ActorRow:
    if report is None:
        return ActorRow(camera, None, None, "unreachable", 0.0, 0, 0, 0, None, 0, 0, 0)
    published = report.gallery_published_at
    age = (utcnow() - published).total_seconds() if published is not None else None
    lag = newest.get(report.gallery_origin, 0) - report.gallery_version
    return ActorRow(
        camera,
        report.node_id,
        report.node_ip,
        report.status.state.value,
        report.status.fps_analysed,
        report.gallery_version,
        report.gallery_entries,
        lag,
        age,
        report.pending,
        report.dropped,
        report.dropped_sightings,
    )


def _reports(ray: Any, namespace: str) -> dict[str, ActorReport | None]:
    calls = {}
    for entry in ray.util.list_named_actors(all_namespaces=True):
        name = entry.get("name", "")
        if entry.get("namespace") == namespace and name.startswith(ACTOR_PREFIX):
            handle = ray.get_actor(name, namespace=namespace)
            calls[name[len(ACTOR_PREFIX) :]] = handle.report.remote()
    found: dict[str, ActorReport | None] = {}
    for camera, ref in sorted(calls.items()):
        try:
            found[camera] = ray.get(ref, timeout=REPORT_SECONDS)
        except Exception:  # restarting or lost: shown as unreachable
            found[camera] = None
    return found


def build_status(
    node_list: list[NodeInfo], reports: dict[str, ActorReport | None]
) -> ClusterStatus:
    newest: dict[str, int] = {}
    for report in reports.values():
        if report is not None:
            origin = report.gallery_origin
            newest[origin] = max(newest.get(origin, 0), report.gallery_version)
    actors = tuple(_row(camera, report, newest) for camera, report in reports.items())
    rows = tuple(
        NodeRow(
            n.node_id,
            n.address,
            n.alive,
            n.cpus,
            tuple(a.camera for a in actors if a.node_id == n.node_id),
        )
        for n in node_list
    )
    return ClusterStatus(rows, actors)


def cluster_status(config: RuntimeConfig) -> ClusterStatus:
    """Connect to ``runtime.address`` and read nodes and camera actors."""
    ray = connect(config)
    return build_status(nodes(ray), _reports(ray, config.namespace))
