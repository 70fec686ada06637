"""Repositories: every query of the database, one module per aggregate.

Each repository wraps an open SQLAlchemy ``Session`` (from :class:`vigil.db.session.Database`)
and is the only place that builds queries; services open the transaction and call them. Import
from the module (``from vigil.repositories.alerts import AlertRepo``).
"""
