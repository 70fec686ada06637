"""Cost of the safeguards: encryption + audit chain on alert throughput; audit verify at scale.

Figures only, never asserted in tests::

    python -m vigil.bench.accountability alerts [--count 400] [--crop PHOTO] [--json]
    python -m vigil.bench.accountability verify [--records 1000000] [--batch 5000] [--json]

``alerts`` stores the same real face crop as N alerts, one write transaction each (as the
pipeline's AlertStore does), four ways: plain rows; sealed crop only; audit record only; sealed
crop + audit record (what Vigil does). ``verify`` bulk-generates a valid hash chain of N records
in a temporary SQLite database, signs its head and times ``verify_chain`` over it, with the
process's peak memory before and after.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import sqlite3
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from vigil.accountability import audit
from vigil.accountability.chain import verify_chain
from vigil.accountability.crypto import DataCipher
from vigil.accountability.signing import load_or_create_signer
from vigil.db.models import Alert, Authorization, Subject, Watchlist
from vigil.db.session import Database
from vigil.domain.enums import AlertStatus, Purpose
from vigil.timeutil import utcnow


@dataclass(frozen=True, slots=True)
class AlertThroughput:
    mode: str
    alerts: int
    seconds: float
    alerts_per_second: float
    crop_bytes: int


@dataclass(frozen=True, slots=True)
class VerifyFigures:
    records: int
    generate_seconds: float
    verify_seconds: float
    records_per_second: float
    ok: bool
    peak_rss_mb_before_verify: float
    peak_rss_mb_after_verify: float
    db_mb: float


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _seed(db: Database) -> tuple[int, int, int]:
    now = utcnow()
    with db.write() as s:
        auth = Authorization(
            reference="BENCH",
            legal_basis="bench",
            authority="bench",
            purpose=Purpose.missing_person,
            valid_from=now - timedelta(days=1),
            expires_at=now + timedelta(days=1),
        )
        s.add(auth)
        s.flush()
        wl = Watchlist(name="bench", authorization_id=auth.id)
        s.add(wl)
        s.flush()
        subject = Subject(watchlist_id=wl.id, name="bench subject")
        s.add(subject)
        s.flush()
        return auth.id, wl.id, subject.id


def _store(
    db: Database,
    ids: tuple[int, int, int],
    crop: bytes,
    cipher: DataCipher | None,
    with_audit: bool,
) -> None:
    auth_id, wl_id, subject_id = ids
    now = utcnow()
    with db.write() as s:
        alert = Alert(
            camera="bench",
            subject_id=subject_id,
            watchlist_id=wl_id,
            authorization_id=auth_id,
            score=0.9,
            threshold=0.5,
            pack="onnx",
            first_seen=now,
            last_seen=now,
            status=AlertStatus.candidate,
            crop=None,
        )
        s.add(alert)
        s.flush()
        alert.crop = cipher.seal(crop, f"alert:{alert.id}".encode()) if cipher else crop
        alert.crop_encrypted = cipher is not None
        if with_audit:
            audit.record(
                s,
                actor="bench",
                action="alert.candidate",
                target=f"alert:{alert.id}",
                details={"input": {"camera": "bench", "from": now, "to": now}, "score": 0.9},
            )


def measure_alerts(crop: bytes, count: int = 400, rounds: int = 8) -> list[AlertThroughput]:
    """Modes interleaved in ``rounds`` so a busy shared machine hurts them all alike."""
    modes = {
        "plain": (False, False),
        "sealed": (True, False),
        "audit": (False, True),
        "sealed+audit": (True, True),
    }
    per_round = max(1, count // rounds)
    with tempfile.TemporaryDirectory() as tmp:
        dbs, seconds = {}, dict.fromkeys(modes, 0.0)
        for mode in modes:
            db = Database(f"sqlite:///{Path(tmp) / (mode.replace('+', '_') + '.db')}")
            db.migrate()
            dbs[mode] = (db, _seed(db))
        for _ in range(rounds):
            for mode, (seal, with_audit) in modes.items():
                db, ids = dbs[mode]
                cipher = DataCipher(b"b" * 32) if seal else None
                start = time.perf_counter()
                for _ in range(per_round):
                    _store(db, ids, crop, cipher, with_audit)
                seconds[mode] += time.perf_counter() - start
        for db, _ in dbs.values():
            db.dispose()
    n = per_round * rounds
    return [AlertThroughput(m, n, t, n / t, len(crop)) for m, t in seconds.items()]


def generate_chain(path: Path, records: int, batch: int = 20000) -> None:
    """Write a valid chain of ``records`` audit events with bulk inserts (memory stays flat)."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    prev = audit.GENESIS
    start = datetime(2026, 1, 1, tzinfo=UTC)
    rows = []
    for i in range(1, records + 1):
        ts = start + timedelta(microseconds=i * 1000)
        details = {"i": i, "camera": f"cam{i % 4}"}
        action = "alert.candidate" if i % 3 else "user.login"
        h = hashlib.sha256(
            audit.canonical(i, ts, "bench", action, f"alert:{i}", details, prev)
        ).hexdigest()
        rows.append(
            (
                i,
                ts.strftime("%Y-%m-%d %H:%M:%S.%f"),
                "bench",
                action,
                f"alert:{i}",
                json.dumps(details),
                prev,
                h,
            )
        )
        prev = h
        if len(rows) >= batch:
            conn.executemany("INSERT INTO audit_events VALUES (?,?,?,?,?,?,?,?)", rows)
            conn.commit()
            rows.clear()
    if rows:
        conn.executemany("INSERT INTO audit_events VALUES (?,?,?,?,?,?,?,?)", rows)
        conn.commit()
    conn.close()


def measure_verify(records: int = 1_000_000, batch: int = 5000) -> VerifyFigures:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "audit.db"
        db = Database(f"sqlite:///{path}")
        db.migrate()
        start = time.perf_counter()
        generate_chain(path, records)
        generated = time.perf_counter() - start
        signer = load_or_create_signer(Path(tmp) / "signing.key")
        audit.sign_head(db, signer)
        before = _peak_rss_mb()
        start = time.perf_counter()
        report = verify_chain(db, signer, batch=batch)
        seconds = time.perf_counter() - start
        size = path.stat().st_size / 1e6
        db.dispose()
    return VerifyFigures(
        report.records,
        generated,
        seconds,
        report.records / seconds,
        report.ok,
        before,
        _peak_rss_mb(),
        size,
    )


def _default_crop() -> bytes:
    """A real face crop: Lin-Manuel Miranda's photo from the shared data, masked crop size."""
    import cv2

    from vigil.imaging import encode_jpeg

    shared = Path(
        os.environ.get("VIGIL_SHARED") or Path(__file__).resolve().parents[3].parent / "shared"
    )
    image = cv2.imread(str(shared / "data" / "photos" / "lin-manuel-miranda.png"))
    if image is None:
        raise SystemExit("give --crop PHOTO (shared data not found)")
    return encode_jpeg(cv2.resize(image, (160, 200)))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m vigil.bench.accountability")
    sub = parser.add_subparsers(dest="what", required=True)
    a = sub.add_parser("alerts")
    a.add_argument("--count", type=int, default=400)
    a.add_argument("--crop", type=Path)
    a.add_argument("--json", action="store_true")
    v = sub.add_parser("verify")
    v.add_argument("--records", type=int, default=1_000_000)
    v.add_argument("--batch", type=int, default=5000)
    v.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.what == "alerts":
        crop = args.crop.read_bytes() if args.crop else _default_crop()
        results = measure_alerts(crop, args.count)
        if args.json:
            print(json.dumps([asdict(r) for r in results], indent=2))
            return
        base = results[0].alerts_per_second
        for r in results:
            print(
                f"{r.mode:<13} {r.alerts_per_second:8.1f} alerts/s ({r.seconds:.2f} s for "
                f"{r.alerts}, {100 * (base / r.alerts_per_second - 1):+.1f}% time vs plain; "
                f"crop {r.crop_bytes} B)"
            )
    else:
        fig = measure_verify(args.records, args.batch)
        print(json.dumps(asdict(fig), indent=2) if args.json else fig)


if __name__ == "__main__":
    main()
