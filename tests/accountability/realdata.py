"""Real-data helpers: Lin-Manuel Miranda enrolled, alerts from Hamilton clip frames."""

from __future__ import annotations

# ---- real faces: Lin-Manuel Miranda enrolled, alerts from Hamilton clip frames -----------------
import dataclasses
import time
from datetime import timedelta
from pathlib import Path

import cv2
import numpy as np

from vigil.context import AppContext
from vigil.db.models import Alert
from vigil.pipeline.masking import FaceCropper
from vigil.repositories.gallery import GalleryRepo
from vigil.services.alerts import AlertBus, AlertStore
from vigil.services.cases import CaseSetup, open_case
from vigil.timeutil import utcnow
from vigil.types import CandidateAlert, Match


@dataclasses.dataclass
class Enrolled:
    context: AppContext
    reference: str
    watchlist: str
    subject: str
    vector: np.ndarray


def enroll(
    ctx: AppContext, photo: Path, *, reference: str, watchlist: str, subject: str
) -> Enrolled:
    """Authorization + watchlist + one subject enrolled from a real photo with the real pack."""
    case = CaseSetup(
        reference=reference,
        legal_basis="test order s.1",
        authority="Test Court",
        watchlist=watchlist,
        subject=subject,
        valid_for=timedelta(days=30),
    )
    (face,) = open_case(ctx, case, [photo], actor="tester")
    return Enrolled(ctx, reference, watchlist, subject, face.embedding.vector)


def clip_frame(clip: Path, index: int) -> np.ndarray:
    cap = cv2.VideoCapture(str(clip))
    try:
        cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, frame = cap.read()
    finally:
        cap.release()
    assert ok, f"cannot read frame {index} of {clip}"
    return frame


def real_alert(who: Enrolled, image: np.ndarray, camera: str = "cam-1") -> int:
    """The pipeline's decide step on one real frame: detect, embed, match, mask, store."""
    ctx = who.context
    faces = ctx.pack.detect(image)
    assert faces, "no face in the frame"
    scores = [float(np.dot(ctx.pack.embed_image(image, d).vector, who.vector)) for d in faces]
    best = faces[int(np.argmax(scores))]
    with ctx.db.read() as s:
        entries = GalleryRepo(s).active_templates(ctx.settings.model_pack, utcnow())
    entry = next(e.entry for e in entries if e.entry.subject_name == who.subject)
    crop = FaceCropper().crop(image, best, faces)
    now = utcnow()
    candidate = CandidateAlert(
        camera=camera,
        first_seen=now,
        last_seen=now,
        match=Match(entry, max(scores)),
        crop_jpeg=crop,
        captured_monotonic=time.monotonic(),
    )
    return AlertStore(ctx.db, ctx.cipher, ctx.settings, AlertBus()).save(candidate)


def plain_crop(ctx: AppContext, alert_id: int) -> bytes:
    with ctx.db.read() as s:
        alert = s.get(Alert, alert_id)
        assert alert is not None and alert.crop is not None
        return ctx.cipher.open(alert.crop, f"alert:{alert_id}".encode())
