"""A real RTSP server on 127.0.0.1 for tests, benchmarks and demos.

The npm package ``rtsp-streaming-server`` (installed by ``scripts/install-test-deps`` into
``.test-deps/``) runs under node; ``ffmpeg -re -stream_loop -1`` publishes a clip to it, and
clients read ``rtsp://127.0.0.1:PORT/MOUNT``. The package serves clients over UDP only, so the
node script below adds RTP-over-RTSP (TCP interleaved, RFC 2326 section 10.12), which is what
Vigil uses for every camera.

Use it as a context manager::

    from rtsp_server import RtspServer, require_rtsp_tools
    require_rtsp_tools()                      # pytest.skip with the reason if a tool is missing
    with RtspServer(clip) as server:
        cv2.VideoCapture(server.url)          # rtsp://127.0.0.1:PORT/cam
        server.restart()                      # kill node + ffmpeg, start them on the same ports

or as the module-scoped fixture ``hamilton_rtsp`` (``from rtsp_server import hamilton_rtsp`` in
a test module). From a shell: ``python tests/rtsp_server.py CLIP`` serves until Ctrl-C.

Child processes are killed on ``stop()``/exit of the ``with`` block, at interpreter exit, and
by the kernel if the Python process dies (PR_SET_PDEATHSIG), so none outlive a test run.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NPM_PACKAGE = "rtsp-streaming-server"
READY_TIMEOUT = 20.0

NODE_SCRIPT = r"""
const lib = require('rtsp-streaming-server');
const { ClientServer, ClientWrapper } = lib;
const { randomUUID } = require('crypto');
const [serverPort, clientPort, rtpPortStart, rtpPortCount] = process.argv.slice(1).map(Number);
const udpSetup = ClientServer.prototype.setupRequest;

// SETUP with "RTP/AVP/TCP;interleaved=a-b": send the mount's RTP/RTCP on the RTSP socket.
ClientServer.prototype.setupRequest = async function (req, res) {
  const transport = req.headers.transport || '';
  console.log(`CLIENT SETUP ${transport}`);  // read by RtspServer.client_transports()
  if (!/tcp/i.test(transport)) return udpSetup.call(this, req, res);
  let wrapper = req.headers.session ? this.clients[req.headers.session] : undefined;
  try {
    if (!wrapper) {
      wrapper = new ClientWrapper(this, req);
      this.clients[wrapper.id] = wrapper;
      req.socket.once('close', () => { try { wrapper.close(); } catch (e) { /* gone */ } });
    }
  } catch (e) {
    res.statusCode = 404;
    return res.end();
  }
  const m = transport.match(/interleaved=(\d+)-(\d+)/);
  const channels = m ? [Number(m[1]), Number(m[2])] : [0, 1];
  const streamId = Number((req.uri.match(/streamid=(\d+)/) || [0, -1])[1]);
  const stream = wrapper.mount.streams[streamId];
  if (!stream) { res.statusCode = 404; return res.end(); }
  const socket = req.socket;
  const client = {
    id: randomUUID(), open: true, stream, mount: wrapper.mount,
    play() { stream.clients[this.id] = this; },
    async close() { this.open = false; wrapper.mount.clientLeave(this); },
    send(channel, buf) {
      if (!this.open || socket.destroyed || !socket.writable) return;
      const head = Buffer.from([0x24, channel, (buf.length >> 8) & 0xff, buf.length & 0xff]);
      socket.write(Buffer.concat([head, buf]));
    },
    sendRtp(buf) { this.send(channels[0], buf); },
    sendRtcp(buf) { this.send(channels[1], buf); },
  };
  wrapper.clients[client.id] = client;
  res.setHeader('Session', `${wrapper.id};timeout=30`);
  res.setHeader('Transport', `RTP/AVP/TCP;unicast;interleaved=${channels[0]}-${channels[1]}`);
  res.end();
};

const server = new lib.default({ serverPort, clientPort, rtpPortStart, rtpPortCount });
process.stdin.on('end', () => process.exit(0));  // parent gone: quit
process.stdin.resume();
server.start().then(() => console.log('READY'))
  .catch((e) => { console.error(e); process.exit(2); });
"""


def deps_dir() -> Path:
    """Where scripts/install-test-deps put the npm package (VIGIL_TEST_DEPS overrides)."""
    return Path(os.environ.get("VIGIL_TEST_DEPS") or ROOT / ".test-deps")


def missing_rtsp_tools() -> str | None:
    """Why the RTSP server cannot run here, or None when ffmpeg, node and the package are there."""
    for tool in ("ffmpeg", "node"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed; run scripts/install-test-deps"
    if not (deps_dir() / "node_modules" / NPM_PACKAGE / "package.json").exists():
        return f"npm package {NPM_PACKAGE} not found in {deps_dir()}; run scripts/install-test-deps"
    return None


def require_rtsp_tools() -> None:
    """pytest.skip with a clear reason when the RTSP server cannot run."""
    reason = missing_rtsp_tools()
    if reason:
        pytest.skip(reason)


def free_tcp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _udp_range_free(start: int, count: int) -> bool:
    socks = []
    try:
        for port in range(start, start + count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            socks.append(sock)
            sock.bind(("0.0.0.0", port))
        return True
    except OSError:
        return False
    finally:
        for sock in socks:
            sock.close()


def free_udp_range(count: int) -> int:
    """An even port starting ``count`` free UDP ports (the publisher's RTP/RTCP pairs)."""
    for _ in range(200):
        start = random.randrange(20000, 60000 - count, 2)
        if _udp_range_free(start, count):
            return start
    raise RuntimeError(f"no {count} consecutive free UDP ports found for the RTSP server")


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def describe_status(url: str, timeout: float = 2.0) -> int | None:
    """The status code of an RTSP DESCRIBE of ``url`` (200 once a stream is published)."""
    host, port = url.split("//", 1)[1].split("/", 1)[0].split(":")
    request = f"DESCRIBE {url} RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n\r\n"
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as sock:
            sock.sendall(request.encode())
            line = sock.recv(256).split(b"\r\n", 1)[0].decode(errors="replace")
    except OSError:
        return None
    parts = line.split()
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


_LIVE: weakref.WeakSet[RtspServer] = weakref.WeakSet()


class RtspServer:
    """node rtsp-streaming-server + an ffmpeg publisher looping ``clip`` at its own frame rate."""

    def __init__(self, clip: Path, mount: str = "cam") -> None:
        self.clip = Path(clip)
        self.mount = mount
        self._pick_ports()
        self._logs = Path(tempfile.mkdtemp(prefix="vigil-rtsp-"))
        self._node: subprocess.Popen[bytes] | None = None
        self._ffmpeg: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def _pick_ports(self) -> None:
        self.publish_port = free_tcp_port()
        self.client_port = free_tcp_port()
        while self.client_port == self.publish_port:
            self.client_port = free_tcp_port()
        self.rtp_start = free_udp_range(20)

    @property
    def url(self) -> str:
        """Where clients (OpenCV, Vigil cameras) read the stream."""
        return f"rtsp://127.0.0.1:{self.client_port}/{self.mount}"

    @property
    def publish_url(self) -> str:
        return f"rtsp://127.0.0.1:{self.publish_port}/{self.mount}"

    def _spawn(
        self, name: str, cmd: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        log = open(self._logs / f"{name}.log", "wb")  # noqa: SIM115 - fresh log per start
        try:
            return subprocess.Popen(
                cmd,
                stdin=subprocess.PIPE,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                preexec_fn=_die_with_parent,
            )
        finally:
            log.close()

    def log_tail(self, name: str, chars: int = 2000) -> str:
        path = self._logs / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def start(self) -> RtspServer:
        """Start node and ffmpeg; returns once a DESCRIBE of :attr:`url` answers 200.

        The first start retries once on fresh ports (another process may have taken a port
        between picking and binding it); a restart keeps the ports clients know.
        """
        if not self.clip.exists():
            raise FileNotFoundError(f"clip not found: {self.clip}")
        try:
            return self._start_once()
        except RuntimeError:
            if self.starts > 0:
                raise
            self._pick_ports()
            return self._start_once()

    def _start_once(self) -> RtspServer:
        env = {**os.environ, "NODE_PATH": str(deps_dir() / "node_modules")}
        args = [str(p) for p in (self.publish_port, self.client_port, self.rtp_start, 20)]
        self._node = self._spawn("node", ["node", "-e", NODE_SCRIPT, *args], env)
        _LIVE.add(self)
        self._wait(lambda: "READY" in self.log_tail("node"), "node server")
        self._ffmpeg = self._spawn("ffmpeg", self._ffmpeg_cmd())
        self._wait(lambda: describe_status(self.url) == 200, "ffmpeg publisher")
        self.starts += 1
        return self

    def _ffmpeg_cmd(self) -> list[str]:
        return [
            "ffmpeg", "-hide_banner", "-nostdin", "-loglevel", "error",
            "-re", "-stream_loop", "-1", "-i", str(self.clip),
            "-an", "-c:v", "copy", "-f", "rtsp", "-rtsp_transport", "udp", self.publish_url,
        ]  # fmt: skip

    def _wait(self, ready: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if ready():
                return
            for name, proc in (("node", self._node), ("ffmpeg", self._ffmpeg)):
                if proc is not None and proc.poll() is not None:
                    self.stop()
                    raise RuntimeError(
                        f"{name} exited with {proc.returncode}: {self.log_tail(name)}"
                    )
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(
            f"{what} not ready within {READY_TIMEOUT:g} s; node: {self.log_tail('node')!r} "
            f"ffmpeg: {self.log_tail('ffmpeg')!r}"
        )

    def stop(self) -> None:
        """Kill ffmpeg and node (SIGTERM, then SIGKILL after 3 s) and wait for them."""
        for attr in ("_ffmpeg", "_node"):
            proc: subprocess.Popen[bytes] | None = getattr(self, attr)
            setattr(self, attr, None)
            if proc is None:
                continue
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(3)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(3)
            if proc.stdin:
                proc.stdin.close()

    def stop_publisher(self) -> None:
        """Kill only ffmpeg: the server stays up but the stream stalls (no more packets)."""
        proc, self._ffmpeg = self._ffmpeg, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(3)

    def start_publisher(self) -> None:
        """Start ffmpeg again (after :meth:`stop_publisher`); returns once the stream is there."""
        self._ffmpeg = self._spawn("ffmpeg", self._ffmpeg_cmd())
        self._wait(lambda: describe_status(self.url) == 200, "ffmpeg publisher")

    def restart(self) -> None:
        """Stop both processes, then start them again on the same ports."""
        self.stop()
        self.start()

    def client_transports(self) -> list[str]:
        """The Transport header of every client SETUP since the last start (TCP or UDP)."""
        prefix = "CLIENT SETUP "
        lines = self.log_tail("node", chars=1_000_000).splitlines()
        return [line[len(prefix) :] for line in lines if line.startswith(prefix)]

    def processes(self) -> list[subprocess.Popen[bytes]]:
        """The child processes now started (node, ffmpeg)."""
        return [p for p in (self._node, self._ffmpeg) if p is not None]

    @property
    def running(self) -> bool:
        return all(p is not None and p.poll() is None for p in (self._node, self._ffmpeg))

    def __enter__(self) -> RtspServer:
        return self.start()

    def close(self) -> None:
        """Stop the processes and remove their log folder."""
        self.stop()
        shutil.rmtree(self._logs, ignore_errors=True)

    def __exit__(self, *exc: object) -> None:
        self.close()


@atexit.register
def _stop_all() -> None:
    for server in list(_LIVE):
        server.stop()


@contextlib.contextmanager
def rtsp_stream(clip: Path, mount: str = "cam") -> Iterator[RtspServer]:
    """``with rtsp_stream(clip) as server: ... server.url``; skips the test if tools are missing."""
    require_rtsp_tools()
    with RtspServer(clip, mount) as server:
        yield server


@pytest.fixture(scope="module")
def hamilton_rtsp(hamilton_clip: Path) -> Iterator[RtspServer]:
    """The Hamilton clip looping over RTSP on 127.0.0.1 (skips if the tools are missing)."""
    with rtsp_stream(hamilton_clip) as server:
        yield server


def main(argv: list[str]) -> int:
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print("usage: python tests/rtsp_server.py CLIP [MOUNT]  (serves until Ctrl-C)")
        return 2
    reason = missing_rtsp_tools()
    if reason:
        print(reason, file=sys.stderr)
        return 1
    with RtspServer(Path(argv[1]), argv[2] if len(argv) > 2 else "cam") as server:
        print(server.url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while server.running:
                time.sleep(0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
