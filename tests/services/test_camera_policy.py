"""The camera source policy on its own: the network rule, every resolved address, file paths."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

import pytest

from vigil.config import Settings
from vigil.errors import InputError
from vigil.services.camera_policy import NetworkRule, SourcePolicy


def _rule(allowed: list[str], denied: list[str]) -> NetworkRule:
    return NetworkRule(
        tuple(ipaddress.ip_network(n) for n in allowed),
        tuple(ipaddress.ip_network(n) for n in denied),
    )


DEFAULT = Settings().sources


@pytest.mark.parametrize(
    ("allowed", "denied", "address", "refused_by"),
    [
        (None, None, "10.1.2.3", None),
        (None, None, "127.0.0.1", "127.0.0.0/8"),
        (None, None, "::ffff:169.254.1.1", "169.254.0.0/16"),
        (None, None, "2001:db8::1", None),
        (["10.0.0.0/8"], [], "192.168.1.5", "0.0.0.0/0"),  # outside every allowed network
        (["10.0.0.0/8"], [], "10.9.9.9", None),
        (["10.0.0.0/8"], ["10.9.0.0/16"], "10.9.9.9", "10.9.0.0/16"),  # more specific deny
        (["0.0.0.0/0", "127.0.0.1/32"], ["127.0.0.0/8"], "127.0.0.1", None),  # specific allow
        (["0.0.0.0/0", "127.0.0.0/8"], ["127.0.0.0/8"], "127.0.0.2", None),  # a tie: allowed
    ],
)
def test_network_rule(
    allowed: list[str] | None, denied: list[str] | None, address: str, refused_by: str | None
) -> None:
    rule = (
        NetworkRule(tuple(DEFAULT.allowed_networks), tuple(DEFAULT.denied_networks))
        if allowed is None or denied is None
        else _rule(allowed, denied)
    )
    found = rule.denial(ipaddress.ip_address(address))
    assert (None if found is None else str(found)) == refused_by


def _policy(tmp_path: Path, answers: dict[str, list[str]]) -> SourcePolicy:
    def resolver(host: str, port: int) -> list[str]:
        if host not in answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return answers[host]

    settings = Settings(home=tmp_path, sources={"media_dir": str(tmp_path / "media")})
    return SourcePolicy.from_settings(settings, resolver=resolver)


def test_every_resolved_address_must_be_allowed(tmp_path: Path) -> None:
    policy = _policy(
        tmp_path, {"cam.example": ["10.0.0.5"], "split.example": ["10.0.0.5", "127.0.0.1"]}
    )
    assert policy.checked("rtsp://cam.example/live") == "rtsp://cam.example/live"
    with pytest.raises(InputError, match=r"127\.0\.0\.1"):
        policy.checked("rtsp://split.example/live")


def test_an_unknown_host_is_refused_with_the_fix(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot be resolved") as caught:
        _policy(tmp_path, {}).checked("rtsp://user:hunter2@nowhere.example/live")
    assert "hunter2" not in str(caught.value)


def test_the_media_folder_defaults_to_home_media(tmp_path: Path) -> None:
    policy = SourcePolicy.from_settings(Settings(home=tmp_path))
    assert policy.checked("a.mp4") == str((tmp_path / "media" / "a.mp4").resolve())
    with pytest.raises(InputError, match="media folder"):
        policy.checked(str(tmp_path / "vigil.db"))


@pytest.mark.parametrize("value", ["10.0.0.1/8", "not-a-network", "300.0.0.0/8"])
def test_bad_networks_are_refused_in_the_settings(value: str) -> None:
    with pytest.raises(ValueError, match="allowed_networks"):
        Settings(sources={"allowed_networks": [value]})
