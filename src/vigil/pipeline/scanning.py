"""How much of a frame a camera's detector scans: the whole frame, or only near its tracks.

A pack whose detector costs about as much as the pixels it scans (dlib's HOG, YuNet) sets
``ModelPack.full_scan_every`` = N (``dlib.full_scan_every``, ``onnx.full_scan_every``): the camera
scans the whole frame on every Nth analysed frame and only windows around its live tracks on
the frames between (:meth:`ModelPack.detect_near`, :mod:`vigil.models.hog_regions`). With no
live track there is nothing to follow, so the whole frame is scanned, and the count restarts
from there.

A face that enters away from every track is therefore found at the next whole-frame scan, up to
N analysed frames after it appears (at 5 fps: 0.6 s with dlib's N = 3, 0.4 s with the onnx
pack's N = 2, against 0.2 s when every frame is scanned whole). Packs with N = 1 scan the whole
frame every time.
"""

from __future__ import annotations

from dataclasses import dataclass

from vigil.models.base import ModelPack
from vigil.types import Detection, Frame, Track


@dataclass
class ScanCadence:
    """One camera's choice, per analysed frame, of a whole-frame or a near-the-tracks scan."""

    every: int = 1  # a whole-frame scan every Nth analysed frame (1 = always)
    full_scans: int = 0
    near_scans: int = 0
    _until_full: int = 0  # near-the-tracks scans left before the next whole-frame one

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError(f"ScanCadence: every must be at least 1, got {self.every}")

    @classmethod
    def every_or(cls, every: int | None, pack: ModelPack) -> ScanCadence:
        """A cadence of ``every``, or the pack's (``ModelPack.full_scan_every``) when None."""
        return cls(pack.full_scan_every if every is None else every)

    def full_now(self, tracks: list[Track]) -> bool:
        """Whether this frame gets a whole-frame scan (and count it either way)."""
        if not tracks or self._until_full <= 0:
            self._until_full = self.every - 1
            self.full_scans += 1
            return True
        self._until_full -= 1
        self.near_scans += 1
        return False

    def detect(self, pack: ModelPack, frame: Frame, tracks: list[Track]) -> list[Detection]:
        """The faces of ``frame``: over the whole frame, or near ``tracks``' last boxes."""
        if self.full_now(tracks):
            return pack.detect_frame(frame.image)
        return pack.detect_near(frame.image, [t.last_box for t in tracks])
