"""Accountability: tamper-evident audit, encryption at rest, retention, reports."""
