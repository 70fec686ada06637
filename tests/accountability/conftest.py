"""Fixtures for accountability tests: a migrated database, its raw sqlite file, a signer."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from accountability.realdata import Enrolled, enroll
from vigil.accountability.signing import Signer, settings_signer
from vigil.config import Settings
from vigil.context import AppContext


@pytest.fixture()
def signer(settings: Settings) -> Signer:
    return settings_signer(settings)


@pytest.fixture()
def db_file(settings: Settings) -> Path:
    return settings.home / "vigil.db"


@pytest.fixture()
def raw(db_file: Path, db) -> Iterator[sqlite3.Connection]:
    """A plain sqlite3 connection on the same file: how an attacker would edit it."""
    conn = sqlite3.connect(db_file)
    yield conn
    conn.close()


@pytest.fixture()
def onnx_ctx(onnx_context: AppContext) -> AppContext:
    return onnx_context


@pytest.fixture()
def lin(onnx_ctx: AppContext, photos: Path) -> Enrolled:
    return enroll(
        onnx_ctx,
        photos / "lin-manuel-miranda.png",
        reference="ORD-LIN-1",
        watchlist="hamilton",
        subject="Lin-Manuel Miranda",
    )
