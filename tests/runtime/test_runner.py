"""CameraRunner on a real video file (played as fast as the analysis goes) with the ONNX pack
and a real database: alerts arrive, the run is a recorded session, and a revocation or an expiry
takes effect on the running camera without a restart."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from root_fixtures import CameraFactory, RunningCamera
from vigil.context import AppContext
from vigil.db.models import Alert, AuditEvent, CameraSession
from vigil.domain.enums import AuthorizationStatus
from vigil.domain.events import AlertEvent
from vigil.repositories.authorizations import AuthorizationRepo
from vigil.services.authorizations import AuthorizationService
from vigil.timeutil import utcnow
from waiting import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.shared]
LIN = "Lin-Manuel Miranda"
REFERENCE = "ORD-RT-1"


def alert_rows(context: AppContext) -> int:
    with context.db.read() as s:
        return s.scalar(select(func.count(Alert.id))) or 0


def test_runner_alerts_and_records_the_session(
    lin_context: AppContext, hamilton_clip: Path, make_camera: CameraFactory
) -> None:
    camera = make_camera(lin_context, hamilton_clip)
    runner, events = camera.runner, camera.events
    wait_for(lambda: not runner.running, "the clip to end")
    candidates = [e for e in events if e.kind == "candidate"]
    assert [e.alert.subject_name for e in candidates if e.alert] == [LIN]
    assert all(isinstance(e, AlertEvent) and e.alert and e.alert.camera == "stage" for e in events)
    assert runner.error is None
    with lin_context.db.read() as s:
        (session,) = s.scalars(select(CameraSession)).all()
        actions = [e.action for e in s.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert (
        session.camera == "stage" and session.watchlists == ["missing"] and session.pack == "onnx"
    )
    assert (
        session.stopped_at is not None and session.threshold == lin_context.settings.onnx.threshold
    )
    assert actions[-3:] == ["camera.session_start", "alert.candidate", "camera.session_stop"]


def end_authority(context: AppContext, how: str) -> None:
    if how == "revoke":
        AuthorizationService(context.db).end(REFERENCE, AuthorizationStatus.revoked, actor="test")
    elif how == "expire":  # the expiry time arrives
        with context.db.write() as s:
            AuthorizationRepo(s).get(REFERENCE).expires_at = utcnow()


@pytest.mark.parametrize(
    ("how", "rows_left", "matched_again"),
    [("none", 1, True), ("revoke", 0, False), ("expire", 1, False)],
)
def test_revocation_or_expiry_takes_effect_on_a_running_camera(
    lin_context: AppContext,
    running_camera: RunningCamera,
    how: str,
    rows_left: int,
    matched_again: bool,
) -> None:
    runner, events = running_camera.runner, running_camera.events
    wait_for(lambda: any(e.kind == "candidate" for e in events), "the first alert")
    end_authority(lin_context, how)
    if how != "none":
        wait_for(lambda: runner.gallery.snapshot().entries == (), "the gallery to drop the entry")
    assert runner.pipeline is not None
    seen = runner.pipeline.frames
    # Two more loops of the clip (9.2 s each at 5 fps): the performer passes twice more.
    wait_for(lambda: runner.pipeline.frames >= seen + 95, "two more passes of the clip", 240)
    assert runner.running  # never restarted
    runner.stop()
    kinds = running_camera.kinds()
    # Each later passage is the same alert (passage gap) but is announced as an update when
    # its track ends: several updates mean the performer was matched again.
    assert kinds[0] == "candidate"
    assert (kinds.count("updated") + kinds.count("candidate") >= 3) is matched_again
    assert alert_rows(lin_context) == rows_left
    assert runner.sink.refused == 0  # the gallery stopped matching; the store never had to refuse


def test_the_store_refuses_when_the_gallery_has_not_refreshed_yet(
    lin_context: AppContext, hamilton_clip: Path, make_camera: CameraFactory
) -> None:
    # A refresh interval longer than the test: only the store's re-check can stop the alert.
    camera = make_camera(lin_context, hamilton_clip, refresh=3600, start=False)
    runner, events = camera.runner, camera.events
    runner.gallery.refresh()
    with lin_context.db.write() as s:
        AuthorizationRepo(s).get(REFERENCE).status = AuthorizationStatus.revoked
    runner.start()
    wait_for(lambda: not runner.running, "the clip to end")
    assert events == []
    assert runner.sink.refused == 1
    assert alert_rows(lin_context) == 0
