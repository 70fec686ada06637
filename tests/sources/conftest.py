"""Fixtures for the source tests: the shared RTSP server fixture from tests/rtsp_server.py."""

from rtsp_server import hamilton_rtsp  # noqa: F401  (a module-scoped fixture)
