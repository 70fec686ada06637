"""The transparency report for a period, as the command center serves it."""

from __future__ import annotations

from datetime import datetime

from vigil.accountability.report import Report, build_report
from vigil.config import Settings
from vigil.db.session import Database


class ReportService:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings

    def build(self, start: datetime, end: datetime) -> Report:
        """The report's figures for [start, end): aggregate, no personal data."""
        return build_report(self.db, self.settings, start, end)
