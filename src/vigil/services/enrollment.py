"""Enrollment photo validation: exactly one usable face, or a clear refusal.

:class:`FacePhotoValidator` turns uploaded bytes into a :class:`~vigil.types.ValidatedFace`
(aligned embedding, quality, a JPEG crop for display) or raises
:class:`~vigil.errors.EnrollmentRejected` with a stable reason:

=============  ==========================================================================
not_an_image        the bytes are not an image
unsupported_format  an image, but not JPEG or PNG (refused from its magic bytes, never decoded)
unreadable     a damaged or truncated image
too_large      over ``max_image_bytes`` or ``max_image_pixels`` (from the header, before decoding)
no_face        no face found
several_faces  more than one face of usable size: which person is meant is ambiguous
too_small      the face is smaller than ``quality.min_face_px`` (face width from the landmarks,
               :func:`vigil.faces.geometry.face_size_px`: the same rule for every pack)
too_blurred    the face region is blurred (``quality.min_sharpness``)
bad_pose       the head is turned too far (``quality.max_yaw_ratio``)
not_a_face     what the detector found is not a human face (an animal, a drawing): see
               :mod:`vigil.models.likeness` (a second detector's opinion and a stricter score)
=============  ==========================================================================

Faces smaller than ``min_face_px`` are ignored when counting faces (people far behind the
subject), unless there is no larger face. Small photos are searched a second time at twice the
size, so a face too small for the detector is reported as ``too_small`` rather than ``no_face``;
where that finds nothing either, the pack's slower still-photo detector gets a last try (dlib: the
CNN detector). Detection runs on a copy of at most :data:`DETECT_MAX_PIXELS`
(:data:`THOROUGH_MAX_PIXELS` for the slow detector). The embedding is the pack's still-photo one
(dlib: the mean over 8 chips), from the full-resolution photo.
Persisting subjects and templates is the watchlist service's job, not this module's.

Decoding and validating are bounded: at most ``decode_slots`` photos (default
:data:`DECODE_SLOTS`) are decoded and validated at once by one validator, so several large
uploads at the same time cannot each hold a decoded image; a photo that waits longer than
``slot_wait_seconds`` for a slot is refused with :class:`~vigil.errors.ServiceUnavailable`
(HTTP 503, "retry").
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import cv2
import numpy as np

from vigil.config import Settings
from vigil.errors import EnrollmentRejected, ServiceUnavailable
from vigil.faces.geometry import face_size_px
from vigil.faces.quality import QualityGate, laplacian_variance
from vigil.imaging import decode_image, encode_jpeg
from vigil.models.base import ModelPack
from vigil.models.likeness import FaceLikenessCheck, SecondOpinion
from vigil.models.registry import second_opinion_loader
from vigil.types import BBox, Detection, Quality, ValidatedFace

__all__ = ["FacePhotoValidator", "ValidatedFace"]

# Photos whose longer side is at most this are searched again at 2x when no face is found.
UPSCALE_RETRY_MAX_SIDE = 1280
CROP_MARGIN = 0.25  # display crop: the face box plus this fraction on every side
# The enrolled photo is kept (an auditor and the reviewers need the image that was enrolled) but
# as the face crop at most this many pixels on its longest side: enough to compare a face by eye,
# a few KB instead of the source photo's resolution (issue 11: photos were 88-95 % of the DB).
ENROLLED_PHOTO_MAX_SIDE = 320
ENROLLED_PHOTO_QUALITY = 85
DECODE_SLOTS = 2  # photos decoded and validated at once by one validator
# Detectors see at most this many pixels (their memory and time grow with pixels: dlib's HOG
# upsamples 2x, its CNN more); a larger photo is shrunk for detection, the boxes scaled back, and
# the face is aligned and embedded from the full-resolution photo.
DETECT_MAX_PIXELS = 4_000_000
THOROUGH_MAX_PIXELS = 2_000_000
SLOT_WAIT_SECONDS = 120.0  # how long a photo waits for a free slot before a 503

_MESSAGES = {
    "no_face": "no face was found; use a clear, front-facing photo of one person.",
    "too_small": "the face is {side:.0f} px across; at least {min} px is needed. "
    "Use a closer or higher-resolution photo.",
    "too_blurred": "the face is too blurred (sharpness {sharp:.0f}, need {need:.0f}); "
    "use a sharper photo.",
    "bad_pose": "the head is turned too far from the camera; use a front-facing photo.",
    "not_a_face": "what was found does not look like a human face ({problem}); enrollment "
    "needs a clear, front-facing photo of the person, not of an animal, a drawing or an object.",
}


def _scaled(detection: Detection, factor: float) -> Detection:
    b = detection.box
    return Detection(
        box=BBox(b.x1 * factor, b.y1 * factor, b.x2 * factor, b.y2 * factor),
        landmarks=(detection.landmarks * factor).astype(np.float32),
        score=detection.score,
    )


def _bounded(
    detect: Callable[[np.ndarray], list[Detection]], image: np.ndarray, max_pixels: int
) -> list[Detection]:
    """``detect`` on ``image`` shrunk to at most ``max_pixels``, the boxes scaled back."""
    h, w = image.shape[:2]
    if h * w <= max_pixels:
        return detect(image)
    factor = (max_pixels / (h * w)) ** 0.5
    size = (max(1, int(w * factor)), max(1, int(h * factor)))
    small = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return [_scaled(d, w / size[0]) for d in detect(small)]


def stored_photo(crop: np.ndarray, max_side: int = ENROLLED_PHOTO_MAX_SIDE) -> bytes:
    """The enrolled face crop as kept: shrunk to ``max_side`` (never enlarged), JPEG."""
    h, w = crop.shape[:2]
    scale = max_side / max(h, w, 1)
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    return encode_jpeg(crop, quality=ENROLLED_PHOTO_QUALITY)


def face_crop(image: np.ndarray, box: BBox, margin: float = CROP_MARGIN) -> np.ndarray:
    """The face box widened by ``margin`` on each side, clipped to the image."""
    h, w = image.shape[:2]
    mx, my = box.width * margin, box.height * margin
    x1, y1 = max(0, int(box.x1 - mx)), max(0, int(box.y1 - my))
    x2, y2 = min(w, int(np.ceil(box.x2 + mx))), min(h, int(np.ceil(box.y2 + my)))
    return np.ascontiguousarray(image[y1:y2, x1:x2])


class FacePhotoValidator:
    """Validates enrollment photos with a model pack and the quality gate; one verb: validate."""

    def __init__(
        self,
        pack: ModelPack,
        gate: QualityGate,
        *,
        max_bytes: int,
        max_pixels: int,
        decode_slots: int = DECODE_SLOTS,
        slot_wait_seconds: float = SLOT_WAIT_SECONDS,
        likeness: FaceLikenessCheck | None = None,
    ) -> None:
        if decode_slots < 1:
            raise ValueError(f"decode_slots must be at least 1, got {decode_slots}")
        self.pack = pack
        self.gate = gate
        self.max_bytes = max_bytes
        self.max_pixels = max_pixels
        self.slot_wait_seconds = slot_wait_seconds
        self.likeness = likeness
        self._slots = threading.BoundedSemaphore(decode_slots)

    @classmethod
    def from_settings(cls, pack: ModelPack, settings: Settings) -> FacePhotoValidator:
        """The validator every entry point uses: the quality gate and image limits in force."""
        return cls(
            pack,
            QualityGate(settings.quality),
            max_bytes=settings.max_image_bytes,
            max_pixels=settings.max_image_pixels,
            likeness=likeness_check(settings, pack.name),
        )

    def validate(self, data: bytes, name: str) -> ValidatedFace:
        """Decode and validate one photo, in one of the bounded slots."""
        if not self._slots.acquire(timeout=self.slot_wait_seconds):
            raise ServiceUnavailable(
                f"{name}: enrollment is busy with other photos",
                hint="retry in a minute; upload fewer large photos at once",
            )
        try:
            return self._validate(data, name)
        finally:
            self._slots.release()

    def _validate(self, data: bytes, name: str) -> ValidatedFace:
        image = decode_image(data, name=name, max_bytes=self.max_bytes, max_pixels=self.max_pixels)
        detection = self._one_face(image, name)
        quality = self.gate.score(image, detection)
        self._check_quality(quality, detection, image, name)
        self._check_likeness(detection, image, name)
        embedding = self.pack.embed_still(image, detection)
        crop = stored_photo(face_crop(image, detection.box))
        return ValidatedFace(embedding=embedding, quality=quality, crop_jpeg=crop, source_name=name)

    def _detect(self, image: np.ndarray) -> list[Detection]:
        found = _bounded(self.pack.detect, image, DETECT_MAX_PIXELS)
        h, w = image.shape[:2]
        if not found and max(h, w) <= UPSCALE_RETRY_MAX_SIDE:
            big = cv2.resize(image, (w * 2, h * 2), interpolation=cv2.INTER_CUBIC)
            found = [_scaled(d, 0.5) for d in self.pack.detect(big)]
        return found or _bounded(self.pack.detect_thorough, image, THOROUGH_MAX_PIXELS)

    def _one_face(self, image: np.ndarray, name: str) -> Detection:
        found = self._detect(image)
        if not found:
            raise EnrollmentRejected("no_face", _MESSAGES["no_face"], photo=name)
        min_px = self.gate.config.min_face_px
        usable = [d for d in found if face_size_px(d.landmarks) >= min_px]
        if len(usable) > 1:
            raise EnrollmentRejected(
                "several_faces",
                f"{len(usable)} faces were found; enrollment needs a photo of exactly one person. "
                "Crop the photo to the person to enroll.",
                photo=name,
            )
        if usable:
            return usable[0]
        # too small; the quality check says so
        return max(found, key=lambda d: face_size_px(d.landmarks))

    def _check_quality(
        self, quality: Quality, detection: Detection, image: np.ndarray, name: str
    ) -> None:
        if quality.reason is None:
            return
        cfg = self.gate.config
        message = _MESSAGES[quality.reason].format(
            side=face_size_px(detection.landmarks),
            min=cfg.min_face_px,
            sharp=laplacian_variance(image, detection),
            need=cfg.min_sharpness,
        )
        raise EnrollmentRejected(quality.reason, message, photo=name)

    def _check_likeness(self, detection: Detection, image: np.ndarray, name: str) -> None:
        if self.likeness is None:
            return
        verdict = self.likeness.judge(image, detection)
        if verdict.problem is not None:
            message = _MESSAGES["not_a_face"].format(problem=verdict.problem)
            raise EnrollmentRejected("not_a_face", message, photo=name)


def likeness_check(settings: Settings, pack: str) -> FaceLikenessCheck:
    """The face-likeness check for ``pack``'s enrollment photos, as configured: the other pack's
    detector as a second opinion (``quality.enroll_second_opinion``, where installed) and, for
    the ONNX pack, the stricter enrollment score ``onnx.enroll_score_threshold``."""
    load = second_opinion_loader(settings, pack) if settings.quality.enroll_second_opinion else None
    min_score = settings.onnx.enroll_score_threshold if pack == "onnx" else None
    return FaceLikenessCheck(SecondOpinion(load) if load else None, min_score)
