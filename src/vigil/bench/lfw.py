"""``vigil bench lfw``: LFW View-2 accuracy of a model pack.

The protocol itself (pairs, embedding, ten-fold, threshold at a false-positive rate) lives in
:mod:`vigil.evaluation.lfw`, which threshold calibration uses too; the benchmark reports it.
"""

from __future__ import annotations

from vigil.evaluation.lfw import (
    FprThreshold,
    LfwPair,
    LfwResult,
    PairScores,
    Progress,
    run_lfw,
    threshold_at_fpr,
)

__all__ = [
    "FprThreshold",
    "LfwPair",
    "LfwResult",
    "PairScores",
    "Progress",
    "run_lfw",
    "threshold_at_fpr",
]
