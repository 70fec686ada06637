"""Persistence: SQLAlchemy models, one-writer database handle, repositories, Alembic migrations."""
