"""A real local Ray cluster for tests: a head with no CPUs (no camera runs there) and worker
nodes, every node on 127.0.0.1 with a small object store and no dashboard."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from vigil.runtime.ray_cluster import import_ray

STORE = 80 * 1024 * 1024  # small object stores: the gallery is all that goes through them


def _start(workers: int, cpus_per_worker: float) -> Any:
    from ray.cluster_utils import Cluster

    local = {"node_ip_address": "127.0.0.1", "object_store_memory": STORE}
    made = Cluster(
        initialize_head=True, head_node_args={**local, "num_cpus": 0, "include_dashboard": False}
    )
    try:
        for _ in range(workers):
            made.add_node(num_cpus=cpus_per_worker, **local)
        made.wait_for_nodes()
    except BaseException:
        made.shutdown()
        raise
    return made


def local_cluster(workers: int, cpus_per_worker: float) -> Iterator[Any]:
    """Body of a module fixture (``yield from local_cluster(2, 1)``): the cluster, shut down after.

    Ray waits a fixed 30 s for a node to register; a loaded 2-core runner can miss that, so the
    start is tried 3 times."""
    ray = import_ray()
    for attempt in range(3):
        try:
            made = _start(workers, cpus_per_worker)
            break
        except Exception:
            if attempt == 2:
                raise
    yield made
    ray.shutdown()
    made.shutdown()
