"""Benchmarks: LFW accuracy (:mod:`vigil.bench.lfw`) and model speed (:mod:`vigil.bench.speed`).

Speed and accuracy are measured here, never by timed assertions in tests.
"""
