"""Safe image decoding: every kind of bad upload gets its reason; odd modes become BGR."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageFile

from vigil.config import Settings
from vigil.errors import EnrollmentRejected, InputError
from vigil.imaging import decode_image, encode_jpeg, sniff_format

LIMITS = {"max_bytes": 20_000_000, "max_pixels": 40_000_000}


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that declares a size but holds almost no data (a decompression-bomb shape)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\0" * 16)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _pil_bytes(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def _make(kind: str, photos: Path) -> bytes:
    jpeg = (photos / "obama.jpg").read_bytes()
    return {
        "empty": lambda: b"",
        "text": lambda: b"name,age\nnobody,0\n" * 50,
        "pdf": lambda: b"%PDF-1.4\n" + b"0" * 500,
        "truncated_jpeg": lambda: jpeg[: len(jpeg) // 2],
        "jpeg_header_only": lambda: jpeg[:300],
        "bomb_png": lambda: _png_header_only(60_000, 60_000),
        "too_many_pixels": lambda: _png_header_only(8000, 6000),
        "too_many_bytes": lambda: jpeg + b"\0" * 20_000_000,
    }[kind]()


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("empty", "not_an_image"),
        ("text", "not_an_image"),
        ("pdf", "not_an_image"),
        ("truncated_jpeg", "unreadable"),
        ("jpeg_header_only", "unreadable"),
        ("bomb_png", "too_large"),
        ("too_many_pixels", "too_large"),
        ("too_many_bytes", "too_large"),
    ],
)
def test_bad_uploads_are_rejected_with_a_reason(photos: Path, kind: str, reason: str) -> None:
    with pytest.raises(EnrollmentRejected) as caught:
        decode_image(_make(kind, photos), name=f"{kind}.jpg", **LIMITS)
    assert caught.value.reason == reason
    assert f"{kind}.jpg" in str(caught.value)


def test_pixel_limit_is_checked_before_decoding(photos: Path) -> None:
    # obama.jpg is 910x1137 = 1.03 Mpx: refused with a 1 Mpx limit, accepted with 2 Mpx.
    data = (photos / "obama.jpg").read_bytes()
    with pytest.raises(EnrollmentRejected, match="910x1137") as caught:
        decode_image(data, name="obama.jpg", max_bytes=10**8, max_pixels=1_000_000)
    assert caught.value.reason == "too_large"
    assert decode_image(data, name="obama.jpg", max_bytes=10**8, max_pixels=2_000_000).shape == (
        1137,
        910,
        3,
    )


def test_jpeg_decodes_to_the_same_bgr_as_opencv(photos: Path) -> None:
    ours = decode_image((photos / "obama.jpg").read_bytes(), name="obama.jpg", **LIMITS)
    theirs = cv2.imread(str(photos / "obama.jpg"))
    assert ours.dtype == np.uint8 and ours.shape == theirs.shape
    assert float(np.abs(ours.astype(int) - theirs.astype(int)).mean()) < 2.0  # decoder rounding


def test_32bit_png_is_accepted(photos: Path) -> None:
    image = decode_image(
        (photos / "test_images" / "32bit.png").read_bytes(), name="32bit.png", **LIMITS
    )
    assert image.shape == (1200, 626, 3) and image.dtype == np.uint8


@pytest.mark.parametrize(
    ("mode", "colour", "expected_bgr"),
    [
        ("L", 200, (200, 200, 200)),
        ("RGB", (255, 0, 0), (0, 0, 255)),  # red comes out as BGR
        ("RGBA", (0, 0, 255, 0), (255, 255, 255)),  # fully transparent: white background
        ("RGBA", (0, 255, 0, 255), (0, 255, 0)),
        ("LA", (50, 255), (50, 50, 50)),
        ("I;16", 65535, (255, 255, 255)),
        ("CMYK", (0, 0, 0, 0), (255, 255, 255)),
    ],
)
def test_colour_modes_become_bgr(mode: str, colour, expected_bgr: tuple[int, int, int]) -> None:
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    data = _pil_bytes(Image.new(mode, (20, 10), colour), fmt)
    image = decode_image(data, name=f"x.{fmt.lower()}", **LIMITS)
    assert image.shape == (10, 20, 3) and image.dtype == np.uint8
    np.testing.assert_allclose(image[5, 10], expected_bgr, atol=1)


def test_exif_orientation_is_applied() -> None:
    image = Image.new("RGB", (40, 20), (10, 20, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees on display
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif)
    assert decode_image(buffer.getvalue(), name="rot.jpg", **LIMITS).shape == (40, 20, 3)


def test_encode_jpeg_round_trip(photos: Path) -> None:
    image = cv2.imread(str(photos / "obama.jpg"))
    data = encode_jpeg(image, quality=85)
    assert data[:2] == b"\xff\xd8"
    back = decode_image(data, name="crop.jpg", **LIMITS)
    assert back.shape == image.shape
    assert float(np.abs(back.astype(int) - image.astype(int)).mean()) < 4.0


@pytest.mark.parametrize(
    ("image", "quality"),
    [
        (np.zeros((10, 10), np.uint8), 90),
        (np.zeros((10, 10, 3), np.float32), 90),
        (np.zeros((0, 10, 3), np.uint8), 90),
        (np.zeros((10, 10, 3), np.uint8), 0),
    ],
)
def test_encode_jpeg_rejects_bad_input(image: np.ndarray, quality: int) -> None:
    with pytest.raises(InputError):
        encode_jpeg(image, quality=quality)


@pytest.fixture()
def no_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any pixel decoding (Pillow's ImageFile.load, or any reader at all) fails the test."""

    def refuse(*_a: object, **_k: object) -> None:
        raise AssertionError("the image was decoded; it should have been refused before")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


def _solid_png(width: int, height: int) -> bytes:
    """A real, valid PNG of one colour: megapixels in a few kilobytes (a decompression bomb)."""
    return _pil_bytes(Image.new("RGB", (width, height), (200, 30, 30)), "PNG")


def test_a_png_bomb_is_refused_from_its_header_before_decoding(no_decoding: None) -> None:
    data = _solid_png(6000, 6000)  # 36 Mpx: under the old 40 Mpx cap, over the 12 Mpx default
    assert len(data) < 200_000
    limits = {"max_bytes": 20_000_000, "max_pixels": Settings().max_image_pixels}
    with pytest.raises(EnrollmentRejected) as caught:
        decode_image(data, name="bomb.png", **limits)
    assert caught.value.reason == "too_large"
    assert "6000x6000" in str(caught.value) and "max_image_pixels" in str(caught.value)


def test_the_enrollment_pixel_cap_is_about_12_mpx_and_bounded() -> None:
    assert Settings().max_image_pixels == 12_000_000
    with pytest.raises(ValueError, match="max_image_pixels"):
        Settings(max_image_pixels=40_000_001)


def _other_format(fmt: str) -> bytes:
    if fmt == "EPS":  # written by hand: saving EPS needs nothing, reading it needs Ghostscript
        return b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 20 10\n" + b"0" * 200
    mode = "P" if fmt == "GIF" else "RGB"
    return _pil_bytes(Image.new(mode, (20, 10)), fmt)


@pytest.mark.parametrize(
    ("fmt", "named"),
    [
        ("TIFF", "TIFF"),
        ("BMP", "BMP"),
        ("GIF", "GIF"),
        ("WEBP", "WebP"),
        ("PPM", "PPM/PGM"),
        ("ICO", "ICO"),
        ("SGI", "SGI"),
        ("EPS", "EPS"),
    ],
)
def test_formats_other_than_jpeg_and_png_are_refused_unread(
    monkeypatch: pytest.MonkeyPatch, fmt: str, named: str
) -> None:
    data = _other_format(fmt)

    def no_reader(*_a: object, **_k: object) -> None:
        raise AssertionError(f"Pillow was asked to parse a {fmt} upload")

    monkeypatch.setattr(Image, "open", no_reader)
    with pytest.raises(EnrollmentRejected) as caught:
        decode_image(data, name=f"x.{fmt.lower()}", **LIMITS)
    assert caught.value.reason == "unsupported_format"
    assert named in str(caught.value) and "JPEG and PNG" in str(caught.value)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x00\x00\x02\x00" + b"\x00" * 200, "not_an_image"),  # TGA has no magic: not an image
        (b"\xff\xd8\xff" + b"\x00" * 200, "not_an_image"),  # JPEG magic, no JPEG inside
    ],
)
def test_unknown_bytes_never_reach_other_readers(data: bytes, reason: str) -> None:
    with pytest.raises(EnrollmentRejected) as caught:
        decode_image(data, name="x", **LIMITS)
    assert caught.value.reason == reason


@pytest.mark.parametrize(
    ("fmt", "expected"),
    [("JPEG", "JPEG"), ("PNG", "PNG"), ("TIFF", "TIFF"), ("GIF", "GIF"), ("WEBP", "WebP")],
)
def test_sniff_format(fmt: str, expected: str) -> None:
    mode = "P" if fmt == "GIF" else "RGB"
    assert sniff_format(_pil_bytes(Image.new(mode, (4, 4)), fmt)) == expected


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_jpeg_and_png_are_accepted(fmt: str) -> None:
    data = _pil_bytes(Image.new("RGB", (30, 20), (0, 0, 255)), fmt)
    image = decode_image(data, name=f"x.{fmt.lower()}", **LIMITS)
    assert image.shape == (20, 30, 3)
    np.testing.assert_allclose(image[10, 15], (255, 0, 0), atol=2)
