"""The log ring's plumbing (vigil.services.logs): levels, install and removal, and the stderr
printer `vigil serve` sets (the view itself: tests/web/test_logs_api.py)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from vigil.config import ServerConfig
from vigil.services import logs
from vigil.services.logs import LogQuery, console_logging, install_log_buffer, level_name

own = logging.getLogger("vigil.tests.buffer")


@contextmanager
def bare_root() -> Iterator[logging.Logger]:
    """The root logger without pytest's capture handlers, as in a plain `vigil serve` (inside
    the test body: pytest adds its handlers after the fixtures are set up)."""
    root = logging.getLogger()
    kept = list(root.handlers)
    for handler in kept:
        root.removeHandler(handler)
    # An app another test built and never closed leaves its buffer on: start from none.
    installed, logs._installed[:] = list(logs._installed), []
    vigil = logging.getLogger(logs.VIGIL_LOGGER)
    level, original = vigil.level, logs._original_level[0]
    vigil.setLevel(logging.NOTSET)
    try:
        yield root
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in kept:
            root.addHandler(handler)
        logs._installed[:] = installed
        logs._original_level[0] = original
        vigil.setLevel(level)


def test_vigil_info_is_kept_even_where_python_drops_it() -> None:
    with bare_root() as root:
        _check_levels(root)


def _check_levels(bare_root: logging.Logger) -> None:
    vigil = logging.getLogger("vigil")
    assert vigil.level == logging.NOTSET and bare_root.level == logging.WARNING
    buffer, uninstall = install_log_buffer(ServerConfig(log_buffer_level="INFO"))
    second, uninstall_second = install_log_buffer(ServerConfig(log_buffer_level="DEBUG"))
    try:
        own.debug("debug line")
        own.info("info line")
        logging.getLogger("somelib").info("a library's info")
        logging.getLogger("somelib").warning("a library's warning")
        assert [x.message for x in buffer.lines(LogQuery(level="DEBUG"))] == [
            "a library's warning",
            "info line",
        ]
        assert "debug line" in [x.message for x in second.lines(LogQuery(level="DEBUG"))]
        uninstall_second()
        assert vigil.level == logging.INFO  # the first buffer still wants INFO
    finally:
        uninstall()
    assert vigil.level == logging.NOTSET and buffer not in bare_root.handlers


@pytest.mark.parametrize(
    ("levelno", "name"),
    [(5, "DEBUG"), (logging.INFO, "INFO"), (25, "INFO"), (logging.CRITICAL + 5, "CRITICAL")],
)
def test_custom_levels_fall_into_a_standard_one(levelno: int, name: str) -> None:
    assert level_name(levelno) == name


def test_serve_prints_warnings_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    with bare_root() as root:
        undo = console_logging()
        _, uninstall = install_log_buffer(ServerConfig())
        try:
            own.warning("camera gate: stream ended")
            own.info("not printed")
        finally:
            uninstall()
            undo()
        assert root.handlers == []
    err = capsys.readouterr().err
    assert "WARNING vigil.tests.buffer: camera gate: stream ended" in err
    assert "not printed" not in err


def test_no_printer_is_added_beside_an_existing_handler() -> None:
    with bare_root() as root:
        mine = logging.NullHandler()
        root.addHandler(mine)
        undo = console_logging()
        assert root.handlers == [mine]
        undo()
        assert root.handlers == [mine]
