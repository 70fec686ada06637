"""Runtime tests share the enrolled-performer context."""

from enrolled_context import lin_context  # noqa: F401 - a fixture
