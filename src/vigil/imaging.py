"""Safe image decoding for enrollment photos and uploads, and JPEG encoding for crops.

:func:`decode_image` never trusts the bytes: it checks the byte size, reads only the header to
check the pixel count (a decompression bomb is refused before any pixel is decoded), then decodes
fully so that a truncated file is refused instead of being half grey. Only JPEG and PNG are
accepted: the magic bytes are checked before any image library parses the file, and Pillow is
then allowed only its JPEG and PNG readers (so TIFF, BMP, GIF, WebP, ICO, PPM, TGA, PCX, SGI or
EPS, whose decoders cost more or reach Ghostscript, never run). Every refusal is an
:class:`~vigil.errors.EnrollmentRejected` with a stable ``reason``: ``not_an_image``,
``unsupported_format``, ``unreadable`` or ``too_large``. Any colour mode (RGBA, grayscale,
palette, 16-bit, CMYK) comes out as BGR uint8, the orientation from EXIF applied.
"""

from __future__ import annotations

import io
import warnings

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from vigil.errors import EnrollmentRejected, InputError

_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError)

JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# The only readers Pillow may use on an upload. Its JPEG reader returns an "MPO" image for a JPEG
# holding extra pictures (some phones and cameras); that is still a JPEG.
ACCEPTED_FORMATS = ("JPEG", "PNG")
_OPENED_FORMATS = {"JPEG", "MPO", "PNG"}
# Formats recognised only to name them in the refusal (never parsed).
_OTHER_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"BM", "BMP"),
    (b"\x00\x00\x01\x00", "ICO"),
    (b"%!PS", "EPS"),
    (b"\xc5\xd0\xd3\xc6", "EPS"),
    (b"\x01\xda", "SGI"),
    (b"8BPS", "PSD"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
    (b"\xff\x4f\xff\x51", "JPEG 2000"),
)


def sniff_format(data: bytes) -> str | None:
    """The image format the first bytes announce: ``JPEG``, ``PNG``, the name of another known
    format (to refuse it by name) or None when the bytes look like no image format."""
    head = bytes(data[:16])
    if head.startswith(JPEG_MAGIC):
        return "JPEG"
    if head.startswith(PNG_MAGIC):
        return "PNG"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    if head[4:8] == b"ftyp":
        return "HEIF/AVIF"
    if len(head) >= 2 and head[0] == ord("P") and head[1] in b"1234567":
        return "PPM/PGM"
    for magic, name in _OTHER_MAGIC:
        if head.startswith(magic):
            return name
    return None


def _check_format(data: bytes, name: str) -> None:
    """Refuse anything but JPEG and PNG from the magic bytes, before any decoder sees it."""
    found = sniff_format(data)
    if found in ACCEPTED_FORMATS:
        return
    if found is None:
        raise EnrollmentRejected(
            "not_an_image",
            "this is not an image file Vigil can read; upload a JPEG or PNG photo.",
            photo=name,
        )
    raise EnrollmentRejected(
        "unsupported_format",
        f"this is a {found} image; Vigil accepts only JPEG and PNG photos. "
        "Convert it to JPEG or PNG and upload it again.",
        photo=name,
    )


def _open(data: bytes, name: str) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=list(ACCEPTED_FORMATS))
    except Image.DecompressionBombError as exc:
        raise EnrollmentRejected(
            "too_large", "the image declares too many pixels to decode safely.", photo=name
        ) from exc
    except UnidentifiedImageError as exc:
        raise EnrollmentRejected(
            "not_an_image",
            "this is not an image file Vigil can read; upload a JPEG or PNG photo.",
            photo=name,
        ) from exc
    except _DECODE_ERRORS as exc:
        raise EnrollmentRejected(
            "unreadable",
            f"the image header is damaged ({exc}); upload the original file.",
            photo=name,
        ) from exc
    if image.format not in _OPENED_FORMATS:  # the readers are restricted; this is a second lock
        raise EnrollmentRejected(
            "unsupported_format",
            f"this is a {image.format} image; Vigil accepts only JPEG and PNG photos.",
            photo=name,
        )
    return image


def _to_rgb(image: Image.Image) -> Image.Image:
    """Flatten any mode to RGB; transparency is composited onto white."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit grey: scale to 8 bits instead of clipping.
        grey = np.asarray(image, dtype=np.float64)
        top = grey.max() if grey.size and grey.max() > 255 else 255.0
        return Image.fromarray((grey * (255.0 / top)).astype(np.uint8)).convert("RGB")
    return image.convert("RGB")


def decode_image(
    data: bytes, *, name: str = "image", max_bytes: int, max_pixels: int
) -> np.ndarray:
    """Decode untrusted image bytes to a BGR uint8 array, or raise EnrollmentRejected.

    Order of the checks, cheapest first: byte size, magic bytes (JPEG or PNG only), the pixel
    count from the header (``max_pixels``), and only then the full decode."""
    if not isinstance(data, bytes | bytearray | memoryview) or len(data) == 0:
        raise EnrollmentRejected(
            "not_an_image", "the upload is empty; choose a photo file.", photo=name
        )
    if len(data) > max_bytes:
        raise EnrollmentRejected(
            "too_large",
            f"the file is {len(data):,} bytes; the limit is {max_bytes:,} (max_image_bytes). "
            "Upload a smaller photo.",
            photo=name,
        )
    _check_format(bytes(data[:16]), name)
    image = _open(bytes(data), name)
    width, height = image.size
    if width <= 0 or height <= 0 or width * height > max_pixels:
        raise EnrollmentRejected(
            "too_large",
            f"the image is {width}x{height} pixels; the limit is {max_pixels:,} pixels "
            "(max_image_pixels). Resize it before uploading.",
            photo=name,
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image.load()  # full decode: raises on truncated data (LOAD_TRUNCATED_IMAGES stays off)
            image = ImageOps.exif_transpose(image) or image
            rgb = _to_rgb(image)
    except Image.DecompressionBombError as exc:
        raise EnrollmentRejected(
            "too_large", "the image has too many pixels to decode.", photo=name
        ) from exc
    except _DECODE_ERRORS as exc:
        raise EnrollmentRejected(
            "unreadable",
            f"the image is damaged or cut short ({exc}); upload the complete original file.",
            photo=name,
        ) from exc
    array = np.asarray(rgb, dtype=np.uint8)
    return np.ascontiguousarray(array[:, :, ::-1])


def encode_jpeg(image: np.ndarray, quality: int = 90) -> bytes:
    """JPEG bytes of a BGR uint8 image (crops for display)."""
    if (
        not isinstance(image, np.ndarray)
        or image.dtype != np.uint8
        or image.ndim != 3
        or image.shape[2] != 3
    ):
        raise InputError(
            "encode_jpeg: expected a uint8 HxWx3 BGR image, got "
            f"{getattr(image, 'dtype', type(image))} {getattr(image, 'shape', '')}"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise InputError(f"encode_jpeg: the image is empty ({image.shape})")
    if not 1 <= quality <= 100:
        raise InputError(f"encode_jpeg: quality must be 1..100, got {quality}")
    ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise InputError("encode_jpeg: OpenCV could not encode the image")
    return buffer.tobytes()
