"""Vigil: face recognition for camera networks with its safeguards enforced in code.

Nothing happens at import time: no model loading, no environment reads, no engine creation.
"""

__version__ = "0.1.0"
