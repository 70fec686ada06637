"""Tests of vigil.sources (a package, so that its module names cannot clash with other folders)."""
