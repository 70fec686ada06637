"""Shared CLI plumbing: error handling without stack traces, settings and context from options."""

from __future__ import annotations

import functools
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


class CliState:
    """Holds global options; settings and context are built on first use, once."""

    def __init__(self, config: Path | None = None) -> None:
        self.config = config
        self._settings: Settings | None = None
        self._context: AppContext | None = None

    def settings(self, **overrides: Any) -> Settings:
        if self._settings is None or overrides:
            self._settings = load_settings(config_file=self.config, **overrides)
        return self._settings

    def context(self, **overrides: Any) -> AppContext:
        if self._context is None:
            self._context = build_context(self.settings(**overrides))
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
