"""``vigil camera list|add|update``: the cameras table from the shell, each change audited.

The same path as the Cameras page and ``/api/cameras`` (:class:`CameraControl`): names and groups
validated, URLs through the source policy, passwords masked in the output and the audit. The CLI
runs no camera: a running ``vigil serve`` starts a camera added here at its next start (or from
the Cameras page). A camera's group is read by the public transparency page at once.
"""

from __future__ import annotations

import typer

from vigil.cli.accountability import actor
from vigil.cli.common import cli_errors, console, state
from vigil.context import AppContext
from vigil.domain.camera_groups import CAMERA_GROUP_HINT, DEFAULT_CAMERA_GROUP
from vigil.errors import NotFound
from vigil.services.camera_control import CameraChange, CameraControl, CameraView
from vigil.services.camera_policy import SourcePolicy
from vigil.services.cameras import CameraInput, CameraService

camera_app = typer.Typer(
    help="Cameras: list, add, change (name, URL, fps, group).", no_args_is_help=True
)


def _control(context: AppContext) -> CameraControl:
    settings = context.settings
    return CameraControl(
        CameraService(context.db),
        None,
        settings.sources.open_timeout_seconds,
        SourcePolicy.from_settings(settings),
    )


def _line(view: CameraView) -> str:
    state_ = "enabled" if view.enabled else "disabled"
    return f"{view.name}\tgroup={view.group}\t{state_}\tmax_fps={view.max_fps:g}\t{view.url}"


def _by_name(control: CameraControl, name: str) -> CameraView:
    for view in control.list():
        if view.name == name:
            return view
    raise NotFound(f"no camera named {name!r}", hint="see `vigil camera list`")


@camera_app.command("list")
@cli_errors
def camera_list(ctx: typer.Context) -> None:
    """List cameras with their group (URL passwords masked)."""
    views = _control(state(ctx).context()).list()
    if not views:
        console.print("no cameras")
    for view in views:
        console.print(_line(view), highlight=False)


@camera_app.command("add")
@cli_errors
def camera_add(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="camera name: letters, digits, '.', '_', '-'"),
    url: str = typer.Argument(..., help="file in the media folder, rtsp:// or http(s):// URL"),
    group: str = typer.Option(DEFAULT_CAMERA_GROUP, "--group", help=CAMERA_GROUP_HINT),
    max_fps: float = typer.Option(5.0, "--max-fps", help="cap on analysed frames per second"),
    disabled: bool = typer.Option(False, "--disabled", help="do not start it with `vigil serve`"),
) -> None:
    """Add a camera (audited as camera.add)."""
    data = CameraInput(name, url, max_fps, not disabled, group)
    view = _control(state(ctx).context()).add(data, actor=actor())
    console.print(f"camera added: {_line(view)}", highlight=False)


@camera_app.command("update")
@cli_errors
def camera_update(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="the camera to change"),
    group: str | None = typer.Option(None, "--group", help=CAMERA_GROUP_HINT),
    new_name: str | None = typer.Option(None, "--name", help="rename it"),
    url: str | None = typer.Option(None, "--url", help="a new URL"),
    max_fps: float | None = typer.Option(None, "--max-fps", help="a new fps cap"),
    enabled: bool | None = typer.Option(None, "--enabled/--disabled", help="start with serve"),
) -> None:
    """Change a camera; only the options given change (audited as camera.update)."""
    control = _control(state(ctx).context())
    camera_id = _by_name(control, name).id
    change = CameraChange(new_name, url, max_fps, enabled, group)
    view = control.update(camera_id, change, actor=actor())
    console.print(f"camera updated: {_line(view)}", highlight=False)


def register(app: typer.Typer) -> None:
    app.add_typer(camera_app, name="camera")
