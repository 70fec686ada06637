"""Vigil's one exception hierarchy.

Every error a user can meet is a :class:`VigilError`. Its message says what went wrong and how to
fix it; the CLI prints it without a stack trace and the API maps it to an HTTP status in one
place (``vigil.web.errors``).

VigilError
├── ConfigError           bad or missing setting (names the key)            -> exit 2 / HTTP 500*
├── ModelError            model file missing, wrong or unloadable          -> exit 2 / HTTP 500*
├── InputError            bad user input (image, video, argument)          -> exit 2 / HTTP 400
│   └── EnrollmentRejected   a photo cannot be enrolled (carries .reason)   -> HTTP 422
├── SourceError           a camera/video source cannot be opened or read   -> exit 3 / HTTP 502
├── NotFound              unknown id or name                               -> exit 4 / HTTP 404
├── Conflict              duplicate name, invalid state transition         -> exit 5 / HTTP 409
├── PermissionDenied      role or authorization does not allow the action  -> exit 6 / HTTP 403
├── AuthenticationFailed  not logged in / bad credentials                  -> HTTP 401
├── StorageError          database or data folder problem                  -> exit 7 / HTTP 503
├── ServiceUnavailable    a part the request needs is not running here     -> exit 7 / HTTP 503
└── IntegrityError        audit chain or key check failed                  -> exit 8 / HTTP 500*

(* server-side problems; the response still carries the message, never a trace.)
"""

from __future__ import annotations


class VigilError(Exception):
    """Base of every error Vigil raises on purpose."""

    exit_code: int = 1
    http_status: int = 500

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(_join(message, hint))

    def __str__(self) -> str:
        return _join(self.message, self.hint)


def _join(message: str, hint: str | None) -> str:
    """'what went wrong. How to fix it.'"""
    if not hint:
        return message
    sep = " " if message.rstrip().endswith((".", "!", "?", ":", ";")) else ". "
    return f"{message.rstrip()}{sep}{hint[:1].upper()}{hint[1:]}"


class ConfigError(VigilError):
    exit_code = 2
    http_status = 500

    def __init__(self, key: str, message: str, *, hint: str | None = None) -> None:
        self.key = key
        super().__init__(f"config '{key}': {message}", hint=hint)


class ModelError(VigilError):
    exit_code = 2
    http_status = 500


class InputError(VigilError):
    exit_code = 2
    http_status = 400


class EnrollmentRejected(InputError):
    """A photo cannot be enrolled. ``reason`` is a stable machine code."""

    http_status = 422
    REASONS = (
        "no_face",
        "several_faces",
        "too_small",
        "too_blurred",
        "not_an_image",
        "unsupported_format",
        "unreadable",
        "too_large",
        "bad_pose",
        "not_a_face",
    )

    def __init__(self, reason: str, message: str, *, photo: str | None = None) -> None:
        if reason not in self.REASONS:
            raise ValueError(f"unknown enrollment rejection reason {reason!r}")
        self.reason = reason
        self.photo = photo
        prefix = f"{photo}: " if photo else ""
        super().__init__(f"{prefix}{message}")


class SourceError(VigilError):
    exit_code = 3
    http_status = 502


class NotFound(VigilError):
    exit_code = 4
    http_status = 404


class Conflict(VigilError):
    exit_code = 5
    http_status = 409


class PermissionDenied(VigilError):
    exit_code = 6
    http_status = 403


class AuthenticationFailed(VigilError):
    exit_code = 6
    http_status = 401


class StorageError(VigilError):
    exit_code = 7
    http_status = 503


class ServiceUnavailable(VigilError):
    """A part of Vigil the request needs is not running in this process (e.g. the cameras)."""

    exit_code = 7
    http_status = 503


class IntegrityError(VigilError):
    exit_code = 8
    http_status = 500
