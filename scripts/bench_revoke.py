#!/usr/bin/env python3
"""How long a revocation takes to purge N subjects (one template each), on a throw-away SQLite.

    PYTHONPATH=src .venv/bin/python scripts/bench_revoke.py --subjects 100000

Prints one JSON object: subjects, what was purged, and the wall and CPU seconds of
`AuthorizationService.end` (the purge, the audit record and the scrub of freed pages).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import timedelta

from sqlalchemy import insert

from vigil.db.models import Subject, Template, Watchlist
from vigil.db.session import Database
from vigil.domain.enums import AuthorizationStatus
from vigil.services.authorizations import AuthorizationInput, AuthorizationService
from vigil.timeutil import utcnow


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=100_000, help="subjects to purge")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        db = Database(f"sqlite:///{folder}/bench.db")
        db.migrate()
        service = AuthorizationService(db)
        auth = service.create(
            AuthorizationInput(
                reference="BENCH-1",
                purpose="missing_person",  # type: ignore[arg-type]
                legal_basis="benchmark",
                authority="benchmark",
                expires_at=utcnow() + timedelta(days=3),
            ),
            actor="bench",
        )
        with db.write() as s:
            wl = Watchlist(name="bench", authorization_id=auth.id)
            s.add(wl)
            s.flush()
            rows = range(1, args.subjects + 1)
            s.execute(
                insert(Subject), [{"id": i, "watchlist_id": wl.id, "name": f"p{i}"} for i in rows]
            )
            vector = b"\1" * 512
            s.execute(
                insert(Template),
                [{"subject_id": i, "pack": "dlib", "dim": 128, "vector": vector} for i in rows],
            )
        wall, cpu = time.perf_counter(), time.process_time()
        purged = service.end("BENCH-1", AuthorizationStatus.revoked, actor="bench")
        result = {
            "subjects": args.subjects,
            "purged": purged,
            "wall_seconds": round(time.perf_counter() - wall, 3),
            "cpu_seconds": round(time.process_time() - cpu, 3),
        }
        db.dispose()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
