"""Which video sources users of the API may point a camera at (no server files, no SSRF).

A URL given through the API (add, edit, connection test, start) passes :class:`SourcePolicy`:

* **Files** only inside the media folder (``sources.media_dir``, default ``HOME/media``). A
  relative path is taken inside that folder; ``..`` and symbolic links are resolved first, so
  neither can escape it. ``file://`` URLs follow the same rule. The refusal is the same whether or
  not the path exists, so it tells nothing about the server's files. The URL kept is the resolved
  absolute path (what is checked is what is opened).
* **Remote sources** only ``rtsp``, ``rtsps``, ``http`` and ``https``. The host name is resolved
  and *every* address it resolves to must be allowed: the most specific network of
  ``sources.allowed_networks`` and ``sources.denied_networks`` that holds the address decides, an
  allowed network winning a tie. By default loopback, link-local and unspecified addresses are
  denied (``127.0.0.0/8``, ``::1``, ``169.254.0.0/16``, ``fe80::/10``, ``0.0.0.0/8``, ``::``);
  an admin allows a local relay with, for example, ``allowed_networks: [0.0.0.0/0, ::/0,
  127.0.0.1/32]``. IPv4-mapped IPv6 addresses are checked as the IPv4 address they carry.

Cameras written by the operator in ``vigil.yaml`` (``cameras:``, same name and URL) are trusted:
whoever edits that file owns the box. The check runs when a URL is stored and again before a
stream is opened, since a name may resolve elsewhere later; FFmpeg resolves the name once more
when it connects, so a DNS server that answers differently within seconds (rebinding) is not
covered: put cameras on addresses, or a resolver you control, where that matters.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from vigil.config import Settings, SourceConfig
from vigil.errors import InputError
from vigil.sources.capture import redact_url

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]

REMOTE_SCHEMES = {"rtsp": 554, "rtsps": 322, "http": 80, "https": 443}
_SCHEME_HINT = "use rtsp://, rtsps://, http(s):// or a video file inside the media folder"


def resolve_host(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (the system resolver, TCP)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


@dataclass(frozen=True, slots=True)
class NetworkRule:
    """The allow/deny lists; :meth:`denial` names the network refusing an address, if any."""

    allowed: tuple[IPNetwork, ...]
    denied: tuple[IPNetwork, ...]

    def denial(self, address: IPAddress) -> IPNetwork | None:
        """The network that refuses ``address``, or None when it is allowed."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        best_allow = _most_specific(address, self.allowed)
        best_deny = _most_specific(address, self.denied)
        if best_allow is None:  # outside every allowed network
            everything = "::/0" if address.version == 6 else "0.0.0.0/0"
            return best_deny or ipaddress.ip_network(everything)
        if best_deny is not None and best_deny.prefixlen > best_allow.prefixlen:
            return best_deny
        return None


def _most_specific(address: IPAddress, networks: Iterable[IPNetwork]) -> IPNetwork | None:
    holding = [n for n in networks if n.version == address.version and address in n]
    return max(holding, key=lambda n: n.prefixlen, default=None)


class SourcePolicy:
    """Checks a camera URL given by a user; one verb: :meth:`checked`."""

    def __init__(
        self,
        media_dir: Path,
        rule: NetworkRule,
        *,
        trusted: Iterable[tuple[str, str]] = (),
        resolver: Resolver = resolve_host,
    ) -> None:
        self.media_dir = media_dir.resolve()
        self.rule = rule
        self.trusted = frozenset(trusted)
        self.resolver = resolver

    @classmethod
    def from_settings(cls, settings: Settings, resolver: Resolver = resolve_host) -> SourcePolicy:
        sources: SourceConfig = settings.sources
        return cls(
            sources.media_dir or settings.home / "media",
            NetworkRule(tuple(sources.allowed_networks), tuple(sources.denied_networks)),
            trusted=[(c.name, c.url) for c in settings.cameras],
            resolver=resolver,
        )

    def checked(self, url: str) -> str:
        """The URL to store and open, or an InputError saying why it is refused."""
        scheme = urlsplit(url).scheme.lower() if "://" in url else ""
        if scheme in ("", "file"):
            return self._checked_file(url, scheme)
        if scheme not in REMOTE_SCHEMES:
            raise InputError(f"camera URL scheme '{scheme}://' is not allowed", hint=_SCHEME_HINT)
        self._check_network(url, scheme)
        return url

    def checked_camera(self, name: str, url: str) -> str:
        """Like :meth:`checked`, but a camera of ``vigil.yaml`` (same name and URL) passes."""
        return url if (name, url) in self.trusted else self.checked(url)

    def _checked_file(self, url: str, scheme: str) -> str:
        raw = urlsplit(url).path if scheme == "file" else url
        path = Path(raw)
        if not path.is_absolute():
            path = self.media_dir / path
        resolved = path.resolve()  # follows symbolic links and '..'
        if resolved == self.media_dir or not resolved.is_relative_to(self.media_dir):
            raise InputError(
                f"video files must be inside the media folder {self.media_dir}",
                hint="copy the video there (sources.media_dir) and give its name, or use an "
                "rtsp:// or http(s):// camera",
            )
        return str(resolved)

    def _check_network(self, url: str, scheme: str) -> None:
        safe = redact_url(url)
        parts = urlsplit(url)
        host = parts.hostname
        if not host:
            raise InputError(f"{safe} has no host name", hint="write it as rtsp://host:port/path")
        try:
            port = parts.port or REMOTE_SCHEMES[scheme]
        except ValueError as exc:
            raise InputError(f"{safe} has an invalid port", hint="use a port 1-65535") from exc
        try:
            addresses = [ipaddress.ip_address(host)]
        except ValueError:
            addresses = self._resolve(host, port, safe)
        for address in addresses:
            network = self.rule.denial(address)
            if network is not None:
                raise InputError(
                    f"{safe}: cameras may not connect to {address} (network {network})",
                    hint="an admin can allow that network in sources.allowed_networks",
                )

    def _resolve(self, host: str, port: int, safe: str) -> list[IPAddress]:
        try:
            found = self.resolver(host, port)
        except (OSError, UnicodeError) as exc:
            raise InputError(
                f"{safe}: the host name {host!r} cannot be resolved",
                hint="check the name, or give the camera's IP address",
            ) from exc
        addresses = [ipaddress.ip_address(a.split("%", 1)[0]) for a in found]
        if not addresses:
            raise InputError(f"{safe}: the host name {host!r} has no address")
        return addresses
