"""Accountability CLI: audit chain, key rotation, export, transparency report, calibration.

vigil audit verify [--json] | list [--action A] [--limit N] | sign
vigil keys rotate --yes [--online] | list [--json]
vigil export --output B.zip --reason TEXT [--alert ID ...] [--from ISO] [--to ISO]
             [--watchlist NAME] [--templates]
vigil export verify B.zip [--public-key B64]
vigil report [--from ISO] [--to ISO] [--format html|json|csv] [--output PATH]
vigil report verify FILE --public-key B64   (a downloaded /public/transparency.json)
vigil keys public [--pem]
vigil calibrate --pack dlib|onnx --fpir 0.001 [--limit-pairs N] [--workers N]
vigil calibrate --pack dlib|onnx --from-openset REPORT.json
vigil retention run
"""

from __future__ import annotations

import getpass
import json
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from vigil.accountability import audit
from vigil.accountability.calibrate import calibrate as run_calibration
from vigil.accountability.calibrate import calibrate_video
from vigil.accountability.chain import verify_chain
from vigil.accountability.deployment_lock import DeploymentLock
from vigil.accountability.export import ExportSelection, export_bundle, verify_bundle
from vigil.accountability.public_report import verify_document
from vigil.accountability.report import build_report
from vigil.accountability.report_render import render
from vigil.accountability.retention import RetentionService
from vigil.accountability.rotation import key_usage, rotate_key
from vigil.accountability.signing import PublicVerifier, load_public_key, settings_signer
from vigil.accountability.threshold import configured_early_margin
from vigil.cli.common import (
    LFW_OPTION,
    cli_errors,
    console,
    err_console,
    is_tty,
    lfw_folder,
    state,
)
from vigil.errors import InputError, IntegrityError
from vigil.evaluation.openset import read_early_margin
from vigil.services.audit_log import AuditFilter, search_audit_resolved
from vigil.timeutil import parse_iso, utcnow

if TYPE_CHECKING:
    from vigil.config import Settings
    from vigil.db.session import Database

audit_app = typer.Typer(help="The tamper-evident audit log.", no_args_is_help=True)
keys_app = typer.Typer(
    help="Encryption keys for biometric data; the public signing key.", no_args_is_help=True
)
retention_app = typer.Typer(help="Retention periods, enforced.", no_args_is_help=True)
report_app = typer.Typer(
    help="Transparency report; see also `vigil report verify`.", invoke_without_command=True
)
export_app = typer.Typer(
    help="Audited, signed export of alerts (and enrolled photos).", invoke_without_command=True
)


def actor() -> str:
    """CLI actions are attributed to the operating-system user who ran them."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@audit_app.command("verify")
@cli_errors
def audit_verify(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="machine-readable result"),
    batch: int = typer.Option(5000, "--batch", min=100, help="records read per batch"),
    public_key: str | None = typer.Option(
        None, "--public-key", help="check signatures with this base64 key (an auditor's copy)"
    ),
) -> None:
    """Check the whole chain; exit 0 if intact, 8 naming the first bad record otherwise."""
    context = state(ctx).context()
    verifier = (
        PublicVerifier(load_public_key(public_key))
        if public_key
        else settings_signer(context.settings)
    )
    report = verify_chain(context.db, verifier, batch=batch)
    if as_json:
        data = asdict(report)
        data["ok"] = report.ok
        console.print_json(json.dumps(data))
    else:
        signed = (
            f"signed through record {report.signed_through}"
            if report.signed_through is not None
            else "head not signed yet (`vigil audit sign`, or `vigil serve` signs periodically)"
        )
        console.print(
            f"{report.records:,} records ({report.first_id}..{report.last_id}), "
            f"{report.signatures} signatures, {signed}; signing key {report.public_key}"
        )
        for event_id in report.rechained:
            console.print(
                f"re-chained at record {event_id} (it states the old head and carries the "
                "superseded head signatures, which verify)",
                markup=False,
            )
    if report.problem is not None:
        p = report.problem
        raise IntegrityError(f"audit chain broken: record {p.event_id} {p.kind}: {p.message}")
    if not as_json:
        console.print("[green]audit chain intact[/green]")


@audit_app.command("list")
@cli_errors
def audit_list(
    ctx: typer.Context,
    action: str | None = typer.Option(None, "--action", help="e.g. export or authorization"),
    since: str | None = typer.Option(None, "--since", help="ISO 8601 start"),
    limit: int = typer.Option(50, "--limit", min=1, max=100000),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Newest audit records first."""
    start = parse_iso(since, name="--since") if since else None
    context = state(ctx).context()
    entries = search_audit_resolved(
        context.db, context.cipher, AuditFilter(action=action, since=start, limit=limit)
    )
    rows: list[dict[str, Any]] = [
        {
            "id": e.event.id,
            "ts": e.event.ts.isoformat(),
            "actor": e.event.actor,
            "action": e.event.action,
            "target": e.event.target,
            "details": e.event.details,
            "subjects": dict(e.subjects),  # pseudonymous references: who, or "purged subject"
        }
        for e in entries
    ]
    if as_json:
        console.print_json(json.dumps(rows))
        return
    for r in rows:
        who = "".join(f"  [{ref[:11]}… = {name}]" for ref, name in r["subjects"].items())
        console.print(
            f"{r['id']:>7} {r['ts'][:19]} {r['actor']:<18} {r['action']:<24} {r['target']}{who}",
            highlight=False,
            markup=False,
        )


@audit_app.command("sign")
@cli_errors
def audit_sign(ctx: typer.Context) -> None:
    """Sign the chain head now (the server does this periodically)."""
    context = state(ctx).context()
    sig = audit.sign_head(context.db, settings_signer(context.settings))
    console.print(f"signed record {sig.event_id}" if sig else "the head is already signed")


@keys_app.command("rotate")
@cli_errors
def keys_rotate(
    ctx: typer.Context,
    yes: bool = typer.Option(False, "--yes", help="confirm; stop `vigil serve` first"),
    online: bool = typer.Option(
        False,
        "--online",
        help="rotate while `vigil serve` runs (it picks the new key up from the keyring file)",
    ),
) -> None:
    """Re-encrypt every template and crop with a new data key; retire keys nothing uses."""
    if not yes:
        raise InputError(
            "key rotation re-encrypts all biometric data",
            hint="stop `vigil serve`, then add --yes (or --yes --online to rotate while it runs)",
        )
    context = state(ctx).context()
    if context.settings.security.data_key is not None:
        raise InputError(
            "the data key comes from VIGIL_DATA_KEY; rotation writes the new key to a key file",
            hint="write the current key to a file (mode 0600), set VIGIL_KEY_FILE to it, unset "
            "VIGIL_DATA_KEY, then run `vigil keys rotate --yes` and update your secret store",
        )
    result = rotate_key(
        context.db,
        Path(context.key_path),
        actor=actor(),
        lock=DeploymentLock(context.settings.home, context.settings.db_url),
        online=online,
    )
    console.print(
        f"rotated data key {result.old_key_id} -> {result.new_key_id}: {result.templates} "
        f"templates, {result.photos} photos, {result.crops} crops re-encrypted; retired "
        f"{', '.join(result.retired_key_ids) or 'no key'}; keyring holds "
        f"{', '.join(result.kept_key_ids)}"
    )


@keys_app.command("list")
@cli_errors
def keys_list(
    ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="print JSON")
) -> None:
    """The data keyring: each key id, which is current, how many stored blobs it sealed."""
    context = state(ctx).context()
    if context.settings.security.data_key is not None:
        raise InputError(
            "the data key comes from VIGIL_DATA_KEY: there is no keyring file to list",
            hint="see `vigil keys rotate` for moving it to a key file",
        )
    rows = key_usage(context.db, Path(context.key_path))
    server = DeploymentLock(context.settings.home, context.settings.db_url).is_held()
    if as_json:
        print(json.dumps({"keys": [asdict(r) for r in rows], "server_running": server}))
        return
    for r in rows:
        state_ = "current" if r.current else ("old" if r.in_keyring else "MISSING from keyring")
        console.print(f"{r.key_id}  {state_:<22} {r.blobs} blobs", highlight=False)
    console.print(f"a server holds this deployment: {'yes' if server else 'no'}")


@export_app.callback()
@cli_errors
def export(
    ctx: typer.Context,
    output: Path | None = typer.Option(None, "--output", "-o", help="bundle file (.zip)"),
    reason: str = typer.Option("", "--reason", help="why (e.g. court order reference)"),
    alert: list[int] = typer.Option([], "--alert", help="alert id (repeatable)"),
    start: str | None = typer.Option(None, "--from", help="alerts first seen from (ISO 8601)"),
    end: str | None = typer.Option(None, "--to", help="alerts first seen before (ISO 8601)"),
    watchlist: str | None = typer.Option(None, "--watchlist", help="only this watchlist"),
    templates: bool = typer.Option(False, "--templates", help="add the enrolled photos"),
) -> None:
    """Export selected alerts as a signed bundle; see also `vigil export verify`."""
    if ctx.invoked_subcommand:
        return
    if output is None:
        raise InputError("--output is required", hint="e.g. vigil export -o case-17.zip ...")
    selection = ExportSelection(
        alert_ids=tuple(alert),
        start=parse_iso(start, name="--from") if start else None,
        end=parse_iso(end, name="--to") if end else None,
        watchlist=watchlist,
        include_templates=templates,
    )
    context = state(ctx).context()
    signer = settings_signer(context.settings)
    result = export_bundle(
        context.db, context.cipher, signer, output, selection, reason=reason, actor=actor()
    )
    console.print(
        f"exported {result.alerts} alerts and {result.templates} enrolled photos to {result.path} "
        f"(manifest sha256 {result.manifest_sha256}, signing key {signer.fingerprint})"
    )


@export_app.command("verify")
@cli_errors
def export_verify(
    ctx: typer.Context,
    bundle: Path = typer.Argument(..., help="the bundle file"),
    public_key: str | None = typer.Option(
        None, "--public-key", help="base64 Ed25519 key (default: this deployment's)"
    ),
) -> None:
    """Check a bundle's signature and file hashes; exit 8 if anything is wrong."""
    if not bundle.is_file():
        raise InputError(f"{bundle} does not exist", hint="give the path of an export bundle")
    signer = None if public_key else settings_signer(state(ctx).settings(), create=False)
    check = verify_bundle(bundle, signer, public_key)
    if not check.ok:
        raise IntegrityError(f"{bundle} failed verification: " + "; ".join(check.problems))
    files = len(check.manifest.get("files", {}))
    console.print(f"[green]{bundle}: signature and {files} files verified[/green]")


@report_app.callback()
@cli_errors
def report_command(
    ctx: typer.Context,
    start: str | None = typer.Option(None, "--from", help="ISO 8601 start (default: 30 days ago)"),
    end: str | None = typer.Option(None, "--to", help="ISO 8601 end (default: now)"),
    fmt: str = typer.Option("html", "--format", help="html, json or csv"),
    output: Path | None = typer.Option(None, "--output", "-o", help="file (default: stdout)"),
) -> None:
    """Transparency report for a period: figures per camera, no personal data."""
    if ctx.invoked_subcommand:
        return
    if fmt not in ("html", "json", "csv"):
        raise InputError(f"unknown report format {fmt!r}", hint="use html, json or csv")
    stop = parse_iso(end, name="--to") if end else utcnow()
    begin = parse_iso(start, name="--from") if start else stop - timedelta(days=30)
    context = state(ctx).context()
    text = render(build_report(context.db, context.settings, begin, stop), fmt)
    if output is None:
        typer.echo(text)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text, encoding="utf-8")
    err_console.print(f"report written to {output}")


@report_app.command("verify")
@cli_errors
def report_verify(
    file: Path = typer.Argument(..., help="a downloaded /public/transparency.json"),
    public_key: str = typer.Option(
        ..., "--public-key", help="the deployment's base64 Ed25519 key (`vigil keys public`)"
    ),
) -> None:
    """Check a signed public transparency document; exit 8 if it was altered or not signed
    by that key."""
    if not file.is_file():
        raise InputError(f"{file} does not exist", hint="give the path of the downloaded JSON")
    verifier = PublicVerifier(load_public_key(public_key.strip()))
    payload = verify_document(file.read_text(encoding="utf-8"), verifier)
    console.print(
        f"[green]{file}: signature valid (key {verifier.fingerprint}), "
        f"figures {payload.get('period', {}).get('from')} to "
        f"{payload.get('period', {}).get('to')}[/green]",
        highlight=False,
    )


@keys_app.command("public")
@cli_errors
def keys_public(
    ctx: typer.Context,
    pem: bool = typer.Option(False, "--pem", help="print PEM instead of base64 raw bytes"),
) -> None:
    """Print the deployment's Ed25519 public key (base64 of the 32 raw bytes; --pem for PEM),
    to publish next to the public transparency page."""
    signer = settings_signer(state(ctx).settings(), create=True)
    typer.echo(signer.public_pem if pem else signer.public_b64)


def calibrate_command(
    ctx: typer.Context,
    pack: str = typer.Option(..., "--pack", help="dlib or onnx"),
    fpir: float = typer.Option(0.001, "--fpir", help="target false-positive rate (0..1)"),
    limit_pairs: int | None = typer.Option(
        None, "--limit-pairs", help="LFW pairs per fold (default: all 600)"
    ),
    workers: int = typer.Option(
        1, "--workers", min=1, max=64, help="processes to spread the work over (one per core)"
    ),
    lfw: Path | None = LFW_OPTION,
    from_openset: Path | None = typer.Option(
        None,
        "--from-openset",
        dir_okay=False,
        help="set the video threshold and minimum face size from the JSON saved from "
        "`vigil bench openset --cctv --json` (instead of measuring on LFW pairs)",
    ),
) -> None:
    """Measure on LFW the threshold giving FPIR false positives and put it in force (audited)."""
    context = state(ctx).context()
    if from_openset is not None:
        _calibrate_from_openset(context.db, pack, from_openset)
        _early_margin_note(context.settings, pack, from_openset)
        return
    result = run_calibration(
        context.db,
        context.settings,
        pack,
        fpir,
        lfw=lfw_folder(lfw),
        limit_pairs=limit_pairs,
        actor=actor(),
        progress=_calibration_progress,
        workers=workers,
    )
    old = "config value" if result.previous is None else f"{result.previous:.4f}"
    console.print(
        f"{pack}: threshold {result.chosen.threshold:.4f} (was {old}); measured false-positive "
        f"rate {result.chosen.fpr:.5f} on {result.chosen.different_pairs} different-person pairs, "
        f"true-match rate {result.chosen.tpr:.4f}; LFW accuracy {result.accuracy:.4f}"
    )


def _calibration_progress(done: int, total: int) -> None:
    if is_tty() and (done % 200 == 0 or done == total):
        err_console.print(f"  {done}/{total}", end="\r")


def _calibrate_from_openset(db: Database, pack: str, openset_json: Path) -> None:
    """``vigil calibrate --from-openset``: the video operating point saved by the benchmark."""
    video = calibrate_video(db, pack, openset_json, actor=actor())
    old = "config value" if video.previous is None else f"{video.previous:.4f}"
    console.print(
        f"{pack}: video threshold {video.point.threshold:.4f} (was {old}), minimum face "
        f"size {video.point.min_face_px} px; chosen at FPIR {video.point.target_fpir:.4f} "
        f"with N={video.point.n}, reporting-half FPIR up to {video.measured_fpir:.4f}",
        highlight=False,
    )


def _early_margin_note(settings: Settings, pack: str, openset_json: Path) -> None:
    """The early-alert margin is configuration, not a stored calibration: say whether the one in
    force is the one the open-set run chose."""
    chosen = read_early_margin(openset_json)
    configured = configured_early_margin(settings, pack)
    found = "chose none on its grid" if chosen is None else f"chose {chosen:.2f}"
    console.print(
        f"{pack}: early-alert margin {pack}.early_margin = {configured} (configuration, not "
        f"changed here); this open-set run {found}"
        + (
            ""
            if chosen is None or chosen == configured
            else f": set {pack}.early_margin in vigil.yaml to use it"
        ),
        highlight=False,
    )


@retention_app.command("run")
@cli_errors
def retention_run(ctx: typer.Context) -> None:
    """Delete everything past its retention period now (the server runs this periodically)."""
    from vigil.services.alert_announce import AlertAnnouncer
    from vigil.services.alert_relay import announcing_bus

    context = state(ctx).context()
    # each deleted or changed alert's event goes into the relay log with the round
    events = AlertAnnouncer(announcing_bus(context.db))
    svc = RetentionService(
        context.db, context.settings.retention, settings_signer(context.settings), events
    )
    result = svc.run(actor=actor())
    parts = ", ".join(f"{k} {v}" for k, v in result.deleted.items())
    console.print(f"retention run {result.run_id}: deleted {parts}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.add_typer(audit_app, name="audit")
    app.add_typer(keys_app, name="keys")
    app.add_typer(export_app, name="export")
    app.add_typer(retention_app, name="retention")
    app.add_typer(report_app, name="report")
    app.command("calibrate")(cli_errors(calibrate_command))
