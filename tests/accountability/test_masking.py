"""Bystander masking on real data: a stored crop shows the matched face only.

Hamilton clip, frames 225-275: six or seven audience members sit close together, so the crop
around one of them reaches into the faces of the neighbours. The watched person is enrolled
from their own face in frame 225 (the enrollment photo validator refuses these turned heads,
so the template is stored through the watchlist service directly); the alert comes from frame
240 through the real detector, embedder, cropper and AlertStore, and, in the end-to-end
variant, Lin-Manuel Miranda (enrolled from his photo) through `vigil analyze` over the clip.

Detectors miss faces, so the same checks run with the detections withheld: a crop whose
neighbours were all missed, and a live preview of frames where every face was missed.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from accountability.realdata import Enrolled, clip_frame, plain_crop, real_alert
from vigil.config import settings_environment
from vigil.context import AppContext
from vigil.db.models import Alert
from vigil.imaging import encode_jpeg
from vigil.pipeline.masking import CropRegion, FaceCropper, _grown, blur_all_faces
from vigil.services.authorizations import AuthorizationInput, AuthorizationService
from vigil.services.watchlists import WatchlistService
from vigil.timeutil import utcnow
from vigil.types import BBox, Detection, Quality, ValidatedFace

pytestmark = pytest.mark.slow
SUBJECT_X = 320  # the watched spectator's face in frame 240 starts near x=320


def _sharpness(image: np.ndarray, box: tuple[int, int, int, int]) -> float:
    x1, y1, x2, y2 = box
    gray = cv2.cvtColor(image[y1:y2, x1:x2], cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def _nearest(faces: list[Detection], x: float) -> Detection:
    return min(faces, key=lambda d: abs(d.box.x1 - x))


@pytest.fixture()
def spectator(onnx_ctx: AppContext, hamilton_clip: Path) -> Enrolled:
    from datetime import timedelta

    frame = clip_frame(hamilton_clip, 225)
    face = _nearest(onnx_ctx.pack.detect(frame), SUBJECT_X)
    embedding = onnx_ctx.pack.embed_image(frame, face)
    region = _grown(face.box, 0.15, frame.shape[1], frame.shape[0])
    photo = encode_jpeg(frame[region.y1 : region.y2, region.x1 : region.x2].copy())
    AuthorizationService(onnx_ctx.db).create(
        AuthorizationInput(
            reference="ORD-HALL",
            purpose="victim_search",
            legal_basis="test order",
            authority="Test Court",
            expires_at=utcnow() + timedelta(days=1),
        ),
        actor="tester",
    )
    wls = WatchlistService(onnx_ctx.db, onnx_ctx.cipher)
    wls.create("hall", "ORD-HALL", actor="tester")
    quality = Quality(size=1.0, sharpness=1.0, pose=0.5, score=0.6)
    wls.enroll(
        "hall",
        "Spectator A",
        [ValidatedFace(embedding, quality, photo, "frame225.jpg")],
        actor="tester",
    )
    return Enrolled(onnx_ctx, "ORD-HALL", "hall", "Spectator A", embedding.vector)


def _faces_in(ctx: AppContext, jpeg: bytes) -> list[Detection]:
    """Faces the detector finds in a stored crop, searched at 2x (small audience faces)."""
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    big = cv2.resize(image, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    return ctx.pack.detect(big)


def _neighbours(faces: list[Detection], subject: Detection, region: CropRegion) -> list[Detection]:
    """The other faces that reach into the subject's crop region."""
    area = BBox(region.x1, region.y1, region.x2, region.y2)
    return [d for d in faces if d is not subject and d.box.iou(area) > 0]


def _assert_only_the_subject_is_sharp(
    frame: np.ndarray,
    crop: np.ndarray,
    subject: Detection,
    neighbours: list[Detection],
    region: CropRegion,
) -> None:
    """Each neighbour well inside the crop lost over 75% of its detail; the subject kept its."""
    original = frame[region.y1 : region.y2, region.x1 : region.x2]

    def local(d: Detection) -> tuple[int, int, int, int]:
        b = d.box
        return (
            max(0, int(b.x1) - region.x1),
            max(0, int(b.y1) - region.y1),
            min(crop.shape[1], int(b.x2) - region.x1),
            min(crop.shape[0], int(b.y2) - region.y1),
        )

    checked = 0
    for n in neighbours:
        box = local(n)
        if (box[2] - box[0]) * (box[3] - box[1]) < 0.25 * n.box.area:
            continue  # only a sliver of this face reaches into the crop
        before, after = _sharpness(original, box), _sharpness(crop, box)
        if before < 10:
            continue  # already featureless in the frame (defocused): nothing to identify
        checked += 1
        assert after < 0.25 * before, (
            f"neighbour at x={n.box.x1:.0f} not blurred ({before:.0f} -> {after:.0f})"
        )
    assert checked >= 1, "no neighbour reaches far enough into the crop to test"
    inner = _grown(subject.box, -0.2, frame.shape[1], frame.shape[0])
    core = (inner.x1 - region.x1, inner.y1 - region.y1, inner.x2 - region.x1, inner.y2 - region.y1)
    assert _sharpness(crop, core) > 0.5 * _sharpness(original, core), "the subject must stay sharp"


def test_stored_crop_blurs_every_neighbour(
    spectator: Enrolled, onnx_ctx: AppContext, hamilton_clip: Path
) -> None:
    frame = clip_frame(hamilton_clip, 240)
    faces = onnx_ctx.pack.detect(frame)
    subject = _nearest(faces, SUBJECT_X)
    region = _grown(subject.box, FaceCropper().margin, frame.shape[1], frame.shape[0])
    neighbours = _neighbours(faces, subject, region)
    assert len(neighbours) >= 2, "frame 240 should have neighbours reaching into the crop"

    alert_id = real_alert(spectator, frame, camera="hall")
    crop = cv2.imdecode(np.frombuffer(plain_crop(onnx_ctx, alert_id), np.uint8), cv2.IMREAD_COLOR)
    original = frame[region.y1 : region.y2, region.x1 : region.x2]
    assert crop.shape == original.shape  # the crop is exactly the subject's region

    _assert_only_the_subject_is_sharp(frame, crop, subject, neighbours, region)
    found = _faces_in(onnx_ctx, plain_crop(onnx_ctx, alert_id))
    assert len(found) == 1, f"{len(found)} faces left in the stored crop"


def test_crop_blurs_neighbours_the_detector_missed(
    onnx_ctx: AppContext, hamilton_clip: Path
) -> None:
    """Frame 240 with every neighbour withheld from the cropper (as if none were detected)."""
    frame = clip_frame(hamilton_clip, 240)
    faces = onnx_ctx.pack.detect(frame)
    subject = _nearest(faces, SUBJECT_X)
    region = _grown(subject.box, FaceCropper().margin, frame.shape[1], frame.shape[0])
    neighbours = _neighbours(faces, subject, region)
    assert len(neighbours) >= 2, "frame 240 should have neighbours reaching into the crop"
    jpeg = FaceCropper().crop(frame, subject, [subject])
    crop = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    _assert_only_the_subject_is_sharp(frame, crop, subject, neighbours, region)
    found = _faces_in(onnx_ctx, jpeg)
    assert len(found) == 1, f"{len(found)} faces left in a crop whose neighbours were missed"


@pytest.mark.parametrize("index", [0, 120, 225, 240, 260])
def test_preview_shows_no_face_when_the_detector_missed_all(
    onnx_ctx: AppContext, hamilton_clip: Path, index: int
) -> None:
    """A live preview made with no detection at all: no face is found in it, even at 2x."""
    frame = clip_frame(hamilton_clip, index)
    assert onnx_ctx.pack.detect(frame), f"frame {index} should show faces"
    preview = blur_all_faces(frame, [])
    assert preview.shape == frame.shape
    found = _faces_in(onnx_ctx, encode_jpeg(preview, 80))
    assert found == [], f"frame {index}: {len(found)} faces found in the preview"


def test_analyze_end_to_end_stores_one_face_per_crop(
    lin: Enrolled, onnx_ctx: AppContext, hamilton_clip: Path
) -> None:
    """Lin-Manuel Miranda enrolled from his photo; the real pipeline over the whole clip."""
    from vigil.cli.main import app

    s = onnx_ctx.settings
    env = settings_environment(s)
    result = CliRunner().invoke(
        app, ["analyze", str(hamilton_clip), "--camera", "stage", "--json"], env=env
    )
    assert result.exit_code == 0, result.output
    with onnx_ctx.db.read() as session:
        alerts = session.scalars(select(Alert).where(Alert.camera == "stage")).all()
    assert alerts, f"Lin-Manuel Miranda was not found by the pipeline: {result.output}"
    for alert in alerts:
        jpeg = plain_crop(onnx_ctx, alert.id)
        found = _faces_in(onnx_ctx, jpeg)
        assert len(found) == 1, f"alert {alert.id}: {len(found)} faces in the stored crop"
