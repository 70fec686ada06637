"""`vigil bench gallery` through the CLI runner: JSON figures, a clear error for a bad index."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from vigil.cli.main import app


@pytest.mark.parametrize("index", ["numpy", "hnsw", "usearch", "pqfs"])
def test_bench_gallery_prints_json_figures(index: str) -> None:
    args = ["bench", "gallery", "--size", "400", "--dim", "16", "--probes", "20"]
    result = CliRunner().invoke(app, [*args, "--index", index, "--exact-below", "100", "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output.strip().splitlines()[-1])
    assert figures["size"] == 400 and figures["dim"] == 16
    assert figures["recall_at_1"] >= 0.9
    assert 0 <= figures["alerting_probes"] <= 20 and 0.9 <= figures["recall_at_1_alerting"] <= 1
    assert figures["search_cpu_p99_ms"] >= figures["search_cpu_p50_ms"] > 0
    kinds = {
        "numpy": "ExactIdIndex",
        "hnsw": "HnswIdIndex",
        "usearch": "UsearchIdIndex",
        "pqfs": "PqfsIdIndex",
    }
    assert figures["index_kinds"] == [kinds[index]]


def test_bench_gallery_unknown_index_is_a_clear_error() -> None:
    result = CliRunner().invoke(app, ["bench", "gallery", "--size", "10", "--index", "annoy"])
    assert result.exit_code != 0
    assert "unknown index 'annoy'" in result.output


@pytest.mark.parametrize(
    ("top1", "best", "expected"),
    [
        ([1, 2, 3, 4], [0.9, 0.9, 0.2, 0.2], 1.0),  # both misses are below the threshold
        ([1, 9, 3, 9], [0.9, 0.9, 0.2, 0.2], 0.5),  # one alerting probe missed
        ([9, 9, 9, 9], [0.1, 0.1, 0.1, 0.1], 1.0),  # no probe can alert: nothing to miss
    ],
)
def test_alert_recall_counts_only_probes_that_clear_the_threshold(
    top1: list[int], best: list[float], expected: float
) -> None:
    from vigil.bench.gallery import alert_recall

    truth = np.array([1, 2, 3, 4])
    assert alert_recall(np.array(top1), truth, np.array(best), 0.5) == expected
