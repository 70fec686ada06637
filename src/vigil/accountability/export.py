"""Audited export of biometric evidence as a signed bundle, and its verification.

A bundle is a zip file holding the selected alerts' face crops (decrypted JPEGs, bystanders
already masked), optionally the enrolled photos of their subjects, ``alerts.json`` with the
alerts' metadata and reviews, and ``manifest.json`` listing every file with its SHA-256, who
exported it, when and why. ``manifest.sig`` is the deployment's Ed25519 signature over the exact
bytes of ``manifest.json``. The export is audited (``export``) before the file appears.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from vigil.accountability import audit
from vigil.accountability.crypto import DataCipher
from vigil.accountability.signing import Signer, fingerprint, load_public_key, verify_with
from vigil.db.models import Alert
from vigil.db.session import Database
from vigil.errors import InputError, NotFound
from vigil.repositories.evidence import AlertOwners, EvidenceRepo
from vigil.timeutil import utcnow

FORMAT = "vigil-export/1"
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"


@dataclass(frozen=True, slots=True)
class ExportSelection:
    alert_ids: tuple[int, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    watchlist: str | None = None
    include_templates: bool = False

    def validated(self) -> ExportSelection:
        if not (self.alert_ids or self.start or self.end or self.watchlist):
            raise InputError(
                "nothing selected to export", hint="give --alert IDs, --from/--to or --watchlist"
            )
        return self


@dataclass(frozen=True, slots=True)
class ExportResult:
    path: Path
    alerts: int
    templates: int
    manifest_sha256: str


@dataclass
class BundleCheck:
    manifest: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True, slots=True)
class _Selected:
    alerts: Sequence[Alert]
    meta: list[dict[str, Any]]  # alerts.json, one entry per alert


def _select_alerts(db: Database, sel: ExportSelection) -> _Selected:
    with db.read() as s:
        repo = EvidenceRepo(s)
        found = [(a, repo.owners(a)) for a in repo.alerts(sel.alert_ids, sel.start, sel.end)]
    rows = [(a, o) for a, o in found if not sel.watchlist or o.watchlist == sel.watchlist]
    missing = set(sel.alert_ids) - {a.id for a, _ in rows}
    if missing:
        raise NotFound(f"no alert(s) {sorted(missing)} to export", hint="see the alerts page")
    return _Selected([a for a, _ in rows], [_alert_meta(a, o) for a, o in rows])


def _alert_meta(alert: Alert, owners: AlertOwners) -> dict[str, Any]:
    return {
        "id": alert.id,
        "camera": alert.camera,
        "status": alert.status.value,
        "subject": owners.subject,
        "watchlist": owners.watchlist,
        "authorization": owners.authorization,
        "score": alert.score,
        "threshold": alert.threshold,
        "pack": alert.pack,
        "first_seen": alert.first_seen.isoformat(),
        "last_seen": alert.last_seen.isoformat(),
        "crop": f"alerts/{alert.id}.jpg" if alert.crop else None,
        "reviews": [
            {
                "user": r.username,
                "decision": r.decision,
                "reason": r.reason,
                "at": r.created_at.isoformat(),
            }
            for r in alert.reviews
        ],
    }


def _files(
    db: Database, cipher: DataCipher, selected: _Selected, sel: ExportSelection
) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for alert in selected.alerts:
        if alert.crop is not None:
            aad = f"alert:{alert.id}".encode()
            crop = cipher.open(alert.crop, aad) if alert.crop_encrypted else alert.crop
            files[f"alerts/{alert.id}.jpg"] = crop
    if sel.include_templates:
        subjects = {a.subject_id for a in selected.alerts}
        with db.read() as s:
            templates = EvidenceRepo(s).templates_of(subjects)
        for tpl in templates:
            if tpl.photo is not None:
                aad = f"template:{tpl.id}:photo".encode()
                photo = cipher.open(tpl.photo, aad) if tpl.encrypted else tpl.photo
                files[f"templates/{tpl.id}.jpg"] = photo
    files["alerts.json"] = json.dumps(selected.meta, indent=2, sort_keys=True).encode()
    return files


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _manifest(
    signer: Signer, sel: ExportSelection, files: dict[str, bytes], *, reason: str, actor: str
) -> bytes:
    manifest = {
        "format": FORMAT,
        "created_at": utcnow().isoformat(),
        "actor": actor,
        "reason": reason,
        "selection": {
            "alert_ids": list(sel.alert_ids),
            "from": sel.start,
            "to": sel.end,
            "watchlist": sel.watchlist,
            "templates": sel.include_templates,
        },
        "signing_key": signer.public_b64,
        "signing_key_fingerprint": signer.fingerprint,
        "files": {n: {"sha256": _sha(d), "bytes": len(d)} for n, d in sorted(files.items())},
    }
    return json.dumps(manifest, indent=2, sort_keys=True, default=str).encode()


def _write_zip(path: Path, files: dict[str, bytes], manifest: bytes, signer: Signer) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in sorted(files.items()):
            zf.writestr(name, data)
        zf.writestr(MANIFEST, manifest)
        zf.writestr(SIGNATURE, signer.sign(manifest) + "\n")


def export_bundle(
    db: Database,
    cipher: DataCipher,
    signer: Signer,
    output: Path,
    selection: ExportSelection,
    *,
    reason: str,
    actor: str,
) -> ExportResult:
    """Write a signed bundle to ``output``; audited before the file appears."""
    if not reason.strip():
        raise InputError("an export needs a reason", hint="give --reason (e.g. the court order)")
    if output.exists():
        raise InputError(f"{output} exists already", hint="choose a new file name")
    sel = selection.validated()
    selected = _select_alerts(db, sel)
    alerts = selected.alerts
    files = _files(db, cipher, selected, sel)
    manifest = _manifest(signer, sel, files, reason=reason, actor=actor)
    templates = sum(1 for n in files if n.startswith("templates/"))
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".export-", dir=output.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        _write_zip(tmp, files, manifest, signer)
        with db.write() as s:
            audit.record(
                s,
                actor=actor,
                action="export",
                target=output.name,
                details={
                    "reason": reason,
                    "alerts": [a.id for a in alerts],
                    "templates": templates,
                    "manifest_sha256": _sha(manifest),
                    "bundle_sha256": _sha(tmp.read_bytes()),
                },
            )
        os.replace(tmp, output)
    finally:
        tmp.unlink(missing_ok=True)
    return ExportResult(output, len(alerts), templates, _sha(manifest))


def verify_bundle(
    path: Path, signer: Signer | None = None, public_key: str | None = None
) -> BundleCheck:
    """Check the manifest signature with the trusted key and every file's hash."""
    check = BundleCheck()
    trusted = load_public_key(public_key) if public_key else (signer.public if signer else None)
    if trusted is None:
        raise InputError("no key to check the bundle with", hint="give --public-key")
    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            if MANIFEST not in names or SIGNATURE not in names:
                check.problems.append("manifest.json or manifest.sig is missing")
                return check
            raw = zf.read(MANIFEST)
            if not verify_with(trusted, raw, zf.read(SIGNATURE).decode().strip()):
                check.problems.append(
                    f"the manifest signature does not verify with key {fingerprint(trusted)}"
                )
            check.manifest = json.loads(raw)
            listed = check.manifest.get("files", {})
            for name, info in listed.items():
                if name not in names:
                    check.problems.append(f"{name} is listed but missing")
                elif _sha(zf.read(name)) != info.get("sha256"):
                    check.problems.append(f"{name} was modified (SHA-256 differs)")
            for extra in sorted(names - set(listed) - {MANIFEST, SIGNATURE}):
                check.problems.append(f"{extra} is not listed in the manifest")
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise InputError(f"{path} is not a readable export bundle: {exc}") from exc
    return check
