"""Accuracy evaluation on public protocols (LFW View-2), used by ``vigil bench`` and calibration.

Lives below both :mod:`vigil.bench` (the CLI's benchmarks) and :mod:`vigil.accountability`
(threshold calibration), so that nothing but the CLI imports the benchmarks.
"""
