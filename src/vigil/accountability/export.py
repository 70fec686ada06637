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

from sqlalchemy import select

from vigil.accountability import audit
from vigil.accountability.signing import Signer, fingerprint, load_public_key, verify_with
from vigil.context import AppContext
from vigil.db.models import Alert, Template
from vigil.errors import InputError, NotFound
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


def _select_alerts(ctx: AppContext, sel: ExportSelection) -> Sequence[Alert]:
    q = select(Alert).order_by(Alert.id)
    if sel.alert_ids:
        q = q.where(Alert.id.in_(sel.alert_ids))
    if sel.start:
        q = q.where(Alert.first_seen >= sel.start)
    if sel.end:
        q = q.where(Alert.first_seen < sel.end)
    with ctx.db.read() as s:
        alerts = s.scalars(q).all()
        for alert in alerts:  # load what the metadata needs while the session is open
            _ = [alert.reviews, alert.status]
        rows = [a for a in alerts if not sel.watchlist or _watchlist_name(s, a) == sel.watchlist]
    missing = set(sel.alert_ids) - {a.id for a in rows}
    if missing:
        raise NotFound(f"no alert(s) {sorted(missing)} to export", hint="see the alerts page")
    return rows


def _watchlist_name(s: Any, alert: Alert) -> str:
    from vigil.db.models import Watchlist

    wl = s.get(Watchlist, alert.watchlist_id)
    return wl.name if wl else ""


def _alert_meta(ctx: AppContext, alert: Alert) -> dict[str, Any]:
    from vigil.db.models import Authorization, Subject, Watchlist

    with ctx.db.read() as s:
        subject, wl = s.get(Subject, alert.subject_id), s.get(Watchlist, alert.watchlist_id)
        auth = s.get(Authorization, alert.authorization_id)
    return {
        "id": alert.id,
        "camera": alert.camera,
        "status": alert.status.value,
        "subject": subject.name if subject else None,
        "watchlist": wl.name if wl else None,
        "authorization": auth.reference if auth else None,
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


def _files(ctx: AppContext, alerts: Sequence[Alert], sel: ExportSelection) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for alert in alerts:
        if alert.crop is not None:
            aad = f"alert:{alert.id}".encode()
            crop = ctx.cipher.open(alert.crop, aad) if alert.crop_encrypted else alert.crop
            files[f"alerts/{alert.id}.jpg"] = crop
    if sel.include_templates:
        subjects = {a.subject_id for a in alerts}
        with ctx.db.read() as s:
            templates = s.scalars(select(Template).where(Template.subject_id.in_(subjects))).all()
        for tpl in templates:
            if tpl.photo is not None:
                aad = f"template:{tpl.id}:photo".encode()
                photo = ctx.cipher.open(tpl.photo, aad) if tpl.encrypted else tpl.photo
                files[f"templates/{tpl.id}.jpg"] = photo
    meta = [_alert_meta(ctx, a) for a in alerts]
    files["alerts.json"] = json.dumps(meta, indent=2, sort_keys=True).encode()
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
    ctx: AppContext,
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
    alerts = _select_alerts(ctx, sel)
    files = _files(ctx, alerts, sel)
    manifest = _manifest(signer, sel, files, reason=reason, actor=actor)
    templates = sum(1 for n in files if n.startswith("templates/"))
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".export-", dir=output.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        _write_zip(tmp, files, manifest, signer)
        with ctx.db.write() as s:
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
