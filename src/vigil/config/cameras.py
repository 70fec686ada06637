"""Settings of the cameras and of how their streams are opened and read."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path

from pydantic import Field, IPvAnyNetwork

from vigil.config.base import StrictSection
from vigil.domain.camera_groups import (
    CAMERA_GROUP_PATTERN,
    DEFAULT_CAMERA_GROUP,
    MAX_GROUP_LENGTH,
)

DENIED_BY_DEFAULT_V4 = ("127.0.0.0/8", "169.254.0.0/16", "0.0.0.0/8")
DENIED_BY_DEFAULT_V6 = ("::1/128", "fe80::/10", "::/128")


def _networks(cidrs: tuple[str, ...]) -> list[IPv4Network | IPv6Network]:
    return [ip_network(c) for c in cidrs]


class SourceConfig(StrictSection):
    reconnect_initial_seconds: float = Field(
        1.0, gt=0.0, le=60.0, description="first reconnect delay"
    )
    reconnect_max_seconds: float = Field(30.0, gt=0.0, le=600.0, description="reconnect delay cap")
    buffer_frames: int = Field(
        5,
        ge=1,
        le=64,
        description="frames queued per camera after the max_fps cap, oldest dropped when full: "
        "the analysis may fall this many frames behind (1 s at 5 fps) and catch up without "
        "losing them; each queued frame holds one decoded picture (about 0.35 MB at 640x360, "
        "3 MB at 1080p)",
    )
    open_timeout_seconds: float = Field(10.0, gt=0.0, le=120.0, description="stream open timeout")
    read_timeout_seconds: float = Field(10.0, gt=0.0, le=120.0, description="stream read timeout")
    media_dir: Path | None = Field(
        None,
        description="the only folder whose video files cameras added through the API may play "
        "(default HOME/media); symbolic links and '..' are resolved before the check",
    )
    allowed_networks: list[IPvAnyNetwork] = Field(
        default_factory=lambda: _networks(("0.0.0.0/0", "::/0")),
        max_length=256,
        description="networks (CIDR) API cameras may connect to; for each address the most "
        "specific network of this list and denied_networks decides, this list winning a tie",
    )
    denied_networks: list[IPvAnyNetwork] = Field(
        default_factory=lambda: (
            [IPv4Network(n) for n in DENIED_BY_DEFAULT_V4]
            + [IPv6Network(n) for n in DENIED_BY_DEFAULT_V6]
        ),
        max_length=256,
        description="networks (CIDR) API cameras may not connect to (default: loopback, "
        "link-local and unspecified addresses: the server itself and cloud metadata services)",
    )


class CameraConfig(StrictSection):
    name: str = Field(
        ..., min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$", description="camera name"
    )
    group: str = Field(
        DEFAULT_CAMERA_GROUP,
        min_length=1,
        max_length=MAX_GROUP_LENGTH,
        pattern=CAMERA_GROUP_PATTERN,
        description="camera group: the public transparency page publishes figures per group",
    )
    url: str = Field(..., min_length=1, description="file path, rtsp://, http(s):// MJPEG URL")
    max_fps: float = Field(5.0, gt=0.0, le=60.0, description="cap on analysed frames per second")
    enabled: bool = Field(True, description="start this camera with `vigil serve`")
