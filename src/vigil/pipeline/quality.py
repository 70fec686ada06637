"""The pipeline's quality gate stage; the scoring lives in :mod:`vigil.faces.quality`.

Enrollment (a service) applies the same scoring to still photos, so it sits below both.
"""

from __future__ import annotations

from vigil.faces.quality import QualityGate, laplacian_variance, yaw_ratio

__all__ = ["QualityGate", "laplacian_variance", "yaw_ratio"]
