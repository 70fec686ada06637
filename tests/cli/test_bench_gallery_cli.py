"""`vigil bench gallery` through the CLI runner: JSON figures, a clear error for a bad index."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from vigil.cli.main import app


@pytest.mark.parametrize("index", ["numpy", "hnsw", "usearch"])
def test_bench_gallery_prints_json_figures(index: str) -> None:
    args = ["bench", "gallery", "--size", "400", "--dim", "16", "--probes", "20"]
    result = CliRunner().invoke(app, [*args, "--index", index, "--exact-below", "100", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output.strip().splitlines()[-1])
    assert figures["size"] == 400 and figures["dim"] == 16
    assert figures["recall_at_1"] >= 0.9
    assert figures["search_cpu_p99_ms"] >= figures["search_cpu_p50_ms"] > 0
    kinds = {"numpy": "ExactIdIndex", "hnsw": "HnswIdIndex", "usearch": "UsearchIdIndex"}
    assert figures["index_kinds"] == [kinds[index]]


def test_bench_gallery_unknown_index_is_a_clear_error() -> None:
    result = CliRunner().invoke(app, ["bench", "gallery", "--size", "10", "--index", "annoy"])
    assert result.exit_code != 0
    assert "unknown index 'annoy'" in result.output
