"""Face size measured the same way for every model pack: from the landmarks, not the box.

Detectors draw boxes of different tightness (YuNet's are smaller than dlib's for the same face), so
a size rule on the box decides differently per pack. The eye centres are placed alike by every
pack, so the size of a face is defined from their distance:

    face_size_px = FACE_WIDTH_PER_EYE_DISTANCE * eye_distance_px

``quality.min_face_px`` and the face sizes of the open-set benchmark both use this definition.

The constant makes face_size_px match the width of dlib's HOG box on average. Measured on the 36
faces of the 32 human photos in ``shared/data/photos``: dlib box width / eye distance = 2.52 with
dlib's eye centres (68-point model), 2.44 with YuNet's (YuNet puts the eyes 3.6 % further apart),
2.48 over both; on every 40th LFW photo (331) 2.60 with dlib's. 2.5 is kept: the definition must
stay stable (benchmarks and calibrated minimum sizes are expressed in it).
"""

from __future__ import annotations

import numpy as np

# Face width (cheek to cheek, about a dlib HOG box) per distance between the eye centres.
FACE_WIDTH_PER_EYE_DISTANCE = 2.5


def eye_distance_px(landmarks: np.ndarray) -> float:
    """Distance in pixels between the two eye centres (landmarks 0 and 1)."""
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.ndim != 2 or lm.shape[0] < 2 or lm.shape[1] != 2:
        raise ValueError(f"eye_distance_px: expected (5, 2) landmarks, got shape {lm.shape}")
    return float(np.linalg.norm(lm[1] - lm[0]))


def face_size_px(landmarks: np.ndarray) -> float:
    """The face's width in pixels, estimated from the eye distance (see the module docstring)."""
    return FACE_WIDTH_PER_EYE_DISTANCE * eye_distance_px(landmarks)
