"""Runtime tests use the root fixtures of tests/root_fixtures.py: ``lin_context``,
``make_camera`` and ``running_camera``."""
