"""A tiny HTTP MJPEG camera for tests: multipart/x-mixed-replace JPEGs on 127.0.0.1."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BOUNDARY = "vigilframe"


def _handler(jpegs: list[bytes], stop: threading.Event, path: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

        def do_GET(self) -> None:
            if self.path != path:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY}")
            self.send_header("Cache-Control", "no-cache")
            self.end_headers()
            i = 0
            try:
                while not stop.is_set():
                    jpeg = jpegs[i % len(jpegs)]
                    self.wfile.write(
                        f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\n"
                        f"Content-Length: {len(jpeg)}\r\n\r\n".encode()
                    )
                    self.wfile.write(jpeg + b"\r\n")
                    i += 1
                    stop.wait(1 / 30)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client went away

    return Handler


@contextmanager
def mjpeg_server(jpegs: list[bytes], path: str = "/video.mjpg") -> Iterator[str]:
    """Serve ``jpegs`` in a loop at about 30 fps; yields the stream URL."""
    stop = threading.Event()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(jpegs, stop, path))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{path}"
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
        thread.join(10)
