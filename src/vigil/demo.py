"""The demo scene for `vigil demo`: a short video with a real face, built from package data.

Nothing here needs the ../shared test data. The face is the public-domain NASA portrait of
astronaut Eileen Collins (scikit-image's ``astronaut``), shipped as package data in
``vigil/demo_data`` with a CC0 brick texture (see its SOURCES.md). The scene is a synthetic
street: a brick wall above a pavement, the portrait walking across it. The enrollment photo is
a *different* view of the same person (a tighter, rotated, rescaled, re-lit crop), so the demo
shows a real match, not an identical-frame lookup.

Only :func:`build_scene` writes files, into the folder it is given.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from importlib import resources
from pathlib import Path

import cv2
import numpy as np

from vigil.context import AppContext
from vigil.errors import InputError

SCENE_WIDTH = 640
SCENE_HEIGHT = 360
DEMO_SUBJECT = "Eileen Collins (demo)"
ASTRONAUT_FILE = "astronaut.jpg"  # package data, vigil/demo_data
BRICK_FILE = "brick.jpg"
# Head-and-shoulders window of the 512x512 astronaut portrait (rows, cols): the face box is about
# x 175-266, y 76-167. Below row 270 are the badge and flag, which confuse some detectors.
_PORTRAIT_ROWS = (10, 270)
_PORTRAIT_COLS = (90, 360)


@dataclass(frozen=True, slots=True)
class SceneSpec:
    """How the demo video is made: the person walks in, stops in the middle a while, walks out."""

    seconds: float = 20.0  # whole clip; the file camera loops it
    fps: float = 10.0
    enter_at: float = 2.0  # seconds: the person steps in from the left
    walk_seconds: float = 5.0  # to reach the middle, and again to leave on the right
    stand_seconds: float = 6.0  # standing in the middle (slight sway)
    portrait_scale: float = 0.8  # the face is ~73 px wide in the scene
    seed: int = 7

    def validated(self) -> SceneSpec:
        if self.fps <= 0 or self.seconds <= 0 or self.walk_seconds <= 0 or self.stand_seconds < 0:
            raise InputError(f"demo scene: fps, seconds and durations must be positive, got {self}")
        if self.enter_at + 2 * self.walk_seconds + self.stand_seconds > self.seconds:
            raise InputError("demo scene: the person must have left before the clip ends")
        return self

    def position(self, t: float, width: int) -> float | None:
        """Left edge x of the person at time ``t`` (None when out of the scene)."""
        start, middle, end = -width, (SCENE_WIDTH - width) / 2.0, SCENE_WIDTH
        t = t - self.enter_at
        if t < 0:
            return None
        if t < self.walk_seconds:
            return start + (middle - start) * t / self.walk_seconds
        t -= self.walk_seconds
        if t < self.stand_seconds:
            return middle + 6.0 * np.sin(t * 1.3)
        t -= self.stand_seconds
        if t <= self.walk_seconds:
            return middle + (end - middle) * t / self.walk_seconds
        return None


@dataclass(frozen=True, slots=True)
class DemoScene:
    """The files a demo deployment uses."""

    video: Path  # mp4 the demo camera loops
    enrollment_photo: Path  # a different view of the same face, PNG
    frames: int
    fps: float


def _demo_image(name: str, flags: int) -> np.ndarray:
    """A picture shipped in ``vigil/demo_data`` (package data), decoded with OpenCV."""
    raw = resources.files("vigil").joinpath("demo_data", name).read_bytes()
    image = cv2.imdecode(np.frombuffer(raw, np.uint8), flags)
    if image is None:
        raise InputError(
            f"the demo picture {name} is damaged", hint="reinstall vigil (pip install -e .)"
        )
    return np.ascontiguousarray(image)


def astronaut_bgr() -> np.ndarray:
    """The 512x512 NASA portrait of Eileen Collins (BGR uint8)."""
    return _demo_image(ASTRONAUT_FILE, cv2.IMREAD_COLOR)


def background() -> np.ndarray:
    """A street-like backdrop: a brick wall over a pavement (BGR uint8, SCENE_HEIGHT x WIDTH)."""
    brick = _demo_image(BRICK_FILE, cv2.IMREAD_GRAYSCALE)  # 512x512 grey texture
    wall_h = int(SCENE_HEIGHT * 0.72)
    tile = np.tile(brick, (1, 2))[:wall_h, :SCENE_WIDTH].astype(np.float32)
    wall = np.stack([tile * 0.55, tile * 0.62, tile * 0.85], axis=2)  # warm red-brown brick
    pavement = np.zeros((SCENE_HEIGHT - wall_h, SCENE_WIDTH, 3), np.float32)
    ramp = np.linspace(150, 105, SCENE_HEIGHT - wall_h, dtype=np.float32)[:, None]
    pavement[:] = np.repeat(ramp, SCENE_WIDTH, axis=1)[:, :, None]
    scene = np.concatenate([wall, pavement], axis=0)
    cv2.line(scene, (0, wall_h), (SCENE_WIDTH, wall_h), (60, 60, 60), 3)
    return np.clip(scene, 0, 255).astype(np.uint8)


def _portrait(scale: float) -> tuple[np.ndarray, np.ndarray]:
    """The head-and-shoulders cut-out and its soft alpha mask (float32 0..1)."""
    (r0, r1), (c0, c1) = _PORTRAIT_ROWS, _PORTRAIT_COLS
    cut = astronaut_bgr()[r0:r1, c0:c1]
    cut = cv2.resize(cut, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    h, w = cut.shape[:2]
    ellipse = np.zeros((h, w), np.float32)
    cv2.ellipse(
        ellipse, (w // 2, int(h * 0.62)), (int(w * 0.48), int(h * 0.62)), 0, 0, 360, 1.0, -1
    )
    mask = cv2.GaussianBlur(ellipse, (0, 0), sigmaX=max(1.0, w * 0.03))
    return cut, np.asarray(mask, np.float32)


def _paste(scene: np.ndarray, cut: np.ndarray, mask: np.ndarray, x: int, y: int) -> None:
    """Alpha-blend ``cut`` into ``scene`` with its top-left corner at (x, y), clipped."""
    h, w = cut.shape[:2]
    sx1, sy1 = max(0, x), max(0, y)
    sx2, sy2 = min(scene.shape[1], x + w), min(scene.shape[0], y + h)
    if sx2 <= sx1 or sy2 <= sy1:
        return
    part = cut[sy1 - y : sy2 - y, sx1 - x : sx2 - x].astype(np.float32)
    alpha = mask[sy1 - y : sy2 - y, sx1 - x : sx2 - x, None]
    dest = scene[sy1:sy2, sx1:sx2].astype(np.float32)
    scene[sy1:sy2, sx1:sx2] = (part * alpha + dest * (1.0 - alpha)).astype(np.uint8)


def render_frames(spec: SceneSpec) -> list[np.ndarray]:
    """Every frame of the scene, in order (BGR uint8)."""
    spec = spec.validated()
    rng = np.random.default_rng(spec.seed)
    base = background()
    cut, mask = _portrait(spec.portrait_scale)
    h, w = cut.shape[:2]
    y = SCENE_HEIGHT - h + 8
    frames: list[np.ndarray] = []
    for i in range(round(spec.seconds * spec.fps)):
        t = i / spec.fps
        frame = base.copy()
        x = spec.position(t, w)
        if x is not None:
            bob = int(2 * np.sin(t * 2 * np.pi * 1.6))  # a walking bob
            _paste(frame, cut, mask, int(x), y + bob)
        light = 1.0 + 0.04 * np.sin(t * 0.9)  # slow light change, and sensor noise
        noisy = frame.astype(np.float32) * light + rng.normal(0.0, 3.0, frame.shape)
        frames.append(np.clip(noisy, 0, 255).astype(np.uint8))
    return frames


def enrollment_view() -> np.ndarray:
    """A different view of the face for enrollment: tighter crop, rotated, upscaled, re-lit."""
    face = astronaut_bgr()[30:220, 125:320]
    h, w = face.shape[:2]
    turn = cv2.getRotationMatrix2D((w / 2, h / 2), -7.0, 1.0)
    face = cv2.warpAffine(face, turn, (w, h), borderMode=cv2.BORDER_REFLECT)
    face = cv2.resize(face, None, fx=1.5, fy=1.5, interpolation=cv2.INTER_CUBIC)
    lut = np.array([((v / 255.0) ** 0.85) * 255 for v in range(256)], np.uint8)  # brighter
    return np.ascontiguousarray(cv2.LUT(face, lut))


def write_video(frames: list[np.ndarray], path: Path, fps: float) -> None:
    if not frames:
        raise InputError("demo scene: no frames to write")
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"mp4v"), fps, (w, h))
    if not writer.isOpened():
        raise InputError(
            f"demo scene: OpenCV cannot write an mp4 to {path}", hint="check the folder is writable"
        )
    try:
        for frame in frames:
            writer.write(frame)
    finally:
        writer.release()


def build_scene(folder: Path, spec: SceneSpec | None = None) -> DemoScene:
    """Write the demo video and enrollment photo into ``folder``."""
    spec = (spec or SceneSpec()).validated()
    folder.mkdir(parents=True, exist_ok=True)
    frames = render_frames(spec)
    video = folder / "demo-street.mp4"
    write_video(frames, video, spec.fps)
    photo = folder / "enroll-eileen-collins.png"
    ok, png = cv2.imencode(".png", enrollment_view())
    if not ok:
        raise InputError("demo scene: cannot encode the enrollment photo")
    photo.write_bytes(png.tobytes())
    return DemoScene(video=video, enrollment_photo=photo, frames=len(frames), fps=spec.fps)


# --------------------------------------------------------------------------- deployment


@dataclass(frozen=True, slots=True)
class DemoAccount:
    username: str
    role: str
    password: str  # one-time: printed once, must be changed at first login


@dataclass(frozen=True, slots=True)
class DemoDeployment:
    scene: DemoScene
    accounts: tuple[DemoAccount, ...]
    authorization: str
    watchlist: str
    subject: str
    camera: str


DEMO_ACTOR = "vigil demo"
DEMO_AUTHORIZATION = "DEMO-2026-0001"
DEMO_WATCHLIST = "Demo: missing persons"
DEMO_CAMERA = "demo-street"


def setup_demo(context: AppContext, folder: Path) -> DemoDeployment:
    """Fill a fresh deployment: users, authorization, watchlist, one enrolled person, camera."""
    from vigil.domain.enums import Role
    from vigil.services.cameras import CameraInput, CameraService
    from vigil.services.cases import CaseSetup, open_case
    from vigil.services.users import create_user

    scene = build_scene(folder)
    accounts = []
    for role in (Role.admin, Role.supervisor, Role.operator, Role.auditor):
        _, password = create_user(context.db, role.value, role, actor=DEMO_ACTOR)
        accounts.append(DemoAccount(role.value, role.value, password))
    case = CaseSetup(
        reference=DEMO_AUTHORIZATION,
        legal_basis="Demonstration only: a public-domain NASA portrait; no real case.",
        authority="Vigil demo (not a real authority)",
        watchlist=DEMO_WATCHLIST,
        subject=DEMO_SUBJECT,
        valid_for=timedelta(days=1),
    )
    open_case(context, case, [scene.enrollment_photo], actor=DEMO_ACTOR)
    CameraService(context.db).add(
        CameraInput(name=DEMO_CAMERA, url=str(scene.video), max_fps=5.0), actor=DEMO_ACTOR
    )
    return DemoDeployment(
        scene, tuple(accounts), DEMO_AUTHORIZATION, DEMO_WATCHLIST, DEMO_SUBJECT, DEMO_CAMERA
    )
