"""Connecting to a Ray cluster the way Vigil needs it, and reading its nodes.

:func:`connect` turns Ray's usage statistics off (``RAY_USAGE_STATS_ENABLED=0``, set before Ray
is imported), never starts a dashboard, and connects to ``runtime.address`` only: it never
starts a local Ray instance. For a loopback head (tests, one-machine trials) the driver stays
on 127.0.0.1 too, instead of Ray swapping in the machine's public address.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from dataclasses import dataclass
from typing import Any

from vigil.config import RuntimeConfig
from vigil.errors import ConfigError, ServiceUnavailable

log = logging.getLogger(__name__)


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def import_ray() -> Any:
    """Ray, imported with its usage statistics switched off."""
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    try:
        import ray
    except ImportError as exc:  # pragma: no cover - ray is a dependency
        raise ConfigError(
            "runtime.engine", "the Ray engine needs the ray package", hint="pip install 'ray>=2.40'"
        ) from exc
    return ray


def connect(config: RuntimeConfig) -> Any:
    """Connect this process to the cluster at ``config.address`` (once); returns ``ray``."""
    ray = import_ray()
    if ray.is_initialized():
        return ray
    if config.address is None:
        raise ConfigError(
            "runtime.address", "no Ray address is configured", hint="set runtime.address"
        )
    host = config.address.rsplit(":", 1)[0]
    node_ip = config.node_ip_address
    if _loopback(host):
        from ray._private import ray_constants

        ray_constants.ENABLE_RAY_CLUSTER = False  # keep 127.0.0.1, not the public address
        node_ip = node_ip or "127.0.0.1"
    try:
        ray.init(
            address=config.address,
            namespace=config.namespace,
            include_dashboard=False,
            logging_level=logging.WARNING,
            log_to_driver=False,
            _node_ip_address=node_ip,
        )
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ServiceUnavailable(
            f"cannot connect to the Ray cluster at {config.address}: {exc}",
            hint="start the head with `ray start --head --port=PORT` and check runtime.address",
        ) from exc
    # Ray builds its serializer on the first put, importing pydantic.v1 as it does; done on
    # the collector thread while the server imports on the main one, that import raced
    # (KeyError: 'pydantic.v1', a failed round). Build it here, before any thread uses Ray.
    ray.put(None)
    return ray


@dataclass(frozen=True, slots=True)
class NodeInfo:
    node_id: str
    address: str
    alive: bool
    cpus: float
    object_store_bytes: int


def nodes(ray: Any) -> list[NodeInfo]:
    """The cluster's nodes as Ray's GCS lists them (dead ones included, marked)."""
    found = []
    for raw in ray.nodes():
        resources = raw.get("Resources", {})
        found.append(
            NodeInfo(
                node_id=raw["NodeID"],
                address=raw.get("NodeManagerAddress", ""),
                alive=bool(raw.get("Alive")),
                cpus=float(resources.get("CPU", 0.0)),
                object_store_bytes=int(resources.get("object_store_memory", 0)),
            )
        )
    return found
