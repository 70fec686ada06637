"""Settings of where cameras run: local threads or a Ray cluster."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from vigil.config.base import StrictSection

RayAddress = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9_.:\[\]-]+:[0-9]{1,5}$",
        description="the Ray head's GCS address, HOST:PORT (as `ray start --head` prints it)",
    ),
]


class RuntimeConfig(StrictSection):
    """Where cameras run: ``local`` threads in this process (the default) or a Ray cluster."""

    engine: Literal["local", "ray"] = Field(
        "local", description="local: camera threads in `vigil serve`; ray: one actor per camera"
    )
    address: RayAddress | None = Field(
        None, description="Ray head HOST:PORT (engine ray); never 'auto': say where it is"
    )
    node_ip_address: str | None = Field(
        None,
        pattern=r"^[0-9A-Fa-f.:]+$",
        description="the address this command center's Ray driver uses (default: 127.0.0.1 for "
        "a loopback head, else Ray's choice); workers must reach it",
    )
    namespace: str = Field(
        "vigil",
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_.-]+$",
        description="Ray namespace of the camera actors (one per deployment)",
    )
    num_cpus_per_camera: float = Field(
        1.0, gt=0.0, le=64.0, description="CPUs Ray reserves for each camera actor"
    )
    max_task_retries: int = Field(
        3, ge=-1, le=100, description="retries of a call to a restarting camera actor (-1: forever)"
    )
    gallery_check_seconds: float = Field(
        2.0, gt=0.0, le=60.0, description="how often the command center checks for gallery changes"
    )
    gallery_publish_seconds: float = Field(
        30.0,
        gt=0.0,
        le=60.0,
        description="the gallery is published to every camera actor at least this often",
    )
    poll_seconds: float = Field(
        0.25, gt=0.0, le=10.0, description="how often the command center collects from actors"
    )
    pending_candidates: int = Field(
        1000, ge=1, le=100_000, description="unsent candidates an actor keeps; beyond, dropped"
    )
    session_heartbeat_seconds: float = Field(
        30.0,
        ge=1.0,
        le=600.0,
        description="how often a server records that its camera sessions are still running",
    )
    session_stale_seconds: float = Field(
        120.0,
        ge=5.0,
        le=86_400.0,
        description="a camera session whose server sent no heartbeat for this long is closed "
        "at its last heartbeat (the server was killed); at least 3 heartbeats",
    )

    @model_validator(mode="after")
    def _address_for_ray(self) -> RuntimeConfig:
        if self.engine == "ray" and self.address is None:
            raise ValueError(
                "runtime.engine 'ray' needs runtime.address: the head node's HOST:PORT"
            )
        return self

    @model_validator(mode="after")
    def _stale_after_heartbeats(self) -> RuntimeConfig:
        if self.session_stale_seconds < 3 * self.session_heartbeat_seconds:
            raise ValueError(
                f"runtime.session_stale_seconds ({self.session_stale_seconds:g}) must be at least "
                f"3 x runtime.session_heartbeat_seconds ({self.session_heartbeat_seconds:g}), or "
                "a slow heartbeat would close a running server's camera sessions"
            )
        return self
