"""Camera groups: the unit the public transparency page publishes its per-camera figures by.

A group is the deployment's choice (a district, a site, a transit line). One camera alone in a
group publishes that camera's figures, and so can reveal a place: group cameras so that a
group is not a single spot unless the deployment means to publish that spot.

Cameras that never got a group are in :data:`DEFAULT_CAMERA_GROUP`: a neutral name that reveals
no place, and a deployment that never groups its cameras publishes one group, as before groups
existed.
"""

from __future__ import annotations

DEFAULT_CAMERA_GROUP = "default"
MAX_GROUP_LENGTH = 64
# Letters of any script, digits, '_', '.', '-', and spaces inside (not leading or trailing).
CAMERA_GROUP_PATTERN = r"^[\w.-](?:[\w .-]*[\w.-])?$"
CAMERA_GROUP_HINT = (
    "a camera group is 1-64 letters, digits, '_', '.', '-' or inner spaces, e.g. 'North district'"
)
# Figures of cameras no longer in the cameras table (removed since): their own line on the
# public page. The parentheses keep it apart from any group a camera can be given.
REMOVED_CAMERAS = "(cameras since removed)"
