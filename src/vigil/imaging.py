"""Safe image decoding for enrollment photos and uploads, and JPEG encoding for crops.

:func:`decode_image` never trusts the bytes: it checks the byte size, reads only the header to
check the pixel count (a decompression bomb is refused before any pixel is decoded), then decodes
fully so that a truncated file is refused instead of being half grey. Every refusal is an
:class:`~vigil.errors.EnrollmentRejected` with a stable ``reason``: ``not_an_image``,
``unreadable`` or ``too_large``. Any colour mode (RGBA, grayscale, palette, 16-bit, CMYK) comes
out as BGR uint8, the orientation from EXIF applied.
"""

from __future__ import annotations

import io
import warnings

import cv2
import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from vigil.errors import EnrollmentRejected, InputError

_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError)


def _open(data: bytes, name: str) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data))
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
    """Decode untrusted image bytes to a BGR uint8 array, or raise EnrollmentRejected."""
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
