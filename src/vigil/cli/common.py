"""Shared CLI plumbing: error handling without stack traces, settings and context from options."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import typer
from rich.console import Console

from vigil.config import Settings, load_settings
from vigil.context import AppContext, build_context
from vigil.errors import VigilError

P = ParamSpec("P")
R = TypeVar("R")

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


# Test and benchmark data (LFW, the shared clip and photos) is no product setting: the commands
# that need it take a path option, defaulting to VIGIL_SHARED, then ../shared beside the checkout.
SHARED_ENV = "VIGIL_SHARED"


def shared_data(option: Path | None = None) -> Path:
    """The shared test/benchmark data folder: ``option``, else $VIGIL_SHARED, else ../shared."""
    if option is not None:
        return option
    from_env = os.environ.get(SHARED_ENV)
    return Path(from_env) if from_env else Path(__file__).resolve().parents[3].parent / "shared"


def lfw_folder(option: Path | None) -> Path:
    """The LFW folder for `vigil bench lfw` and `vigil calibrate`: --lfw, else SHARED/data/lfw."""
    return option if option is not None else shared_data() / "data" / "lfw"


LFW_OPTION: Any = typer.Option(
    None,
    "--lfw",
    file_okay=False,
    help="LFW folder holding pairs.txt and lfw-deepfunneled/ (default: $VIGIL_SHARED/data/lfw, "
    "VIGIL_SHARED defaulting to ../shared beside the checkout)",
)


class CliState:
    """Holds global options; settings and context are built on first use, once.

    The context opens an existing deployment only: without one every command stops with "no
    deployment in HOME; run `vigil init`" and creates nothing (only `vigil init` and `vigil demo`
    make deployments)."""

    def __init__(self, config: Path | None = None) -> None:
        self.config = config
        self._settings: Settings | None = None
        self._context: AppContext | None = None

    def settings(self, **overrides: Any) -> Settings:
        if self._settings is None or overrides:
            self._settings = load_settings(os.environ, config_file=self.config, **overrides)
        return self._settings

    def context(self, **overrides: Any) -> AppContext:
        if self._context is None:
            self._context = build_context(self.settings(**overrides), create=False)
        return self._context

    def close(self) -> None:
        if self._context is not None:
            self._context.close()
            self._context = None


def state(ctx: typer.Context) -> CliState:
    root = ctx.find_root()
    if not isinstance(root.obj, CliState):
        root.obj = CliState()
    return root.obj


def fail(message: str, code: int = 2) -> typer.Exit:
    err_console.print(f"[bold red]error:[/bold red] {message}", highlight=False)
    return typer.Exit(code)


def cli_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn VigilError (and Ctrl-C) into a clear message and exit code; never a stack trace."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except VigilError as exc:
            raise fail(str(exc), exc.exit_code) from None
        except KeyboardInterrupt:
            raise fail("interrupted", 130) from None

    return wrapper


def is_tty() -> bool:
    return sys.stdout.isatty()
