"""Vigil's command line (Typer)."""
