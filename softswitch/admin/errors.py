"""API errors: one exception type, one JSON shape, one place that maps failures.

Every client mistake ends as ``ApiError(status, message, field)``, rendered as
``{"error": {"status": 422, "message": "...", "field": "gateways.0.port"}}``.
Anything else is our bug: logged, and answered 500 with a generic message.
"""

from collections.abc import Sequence

import sqlalchemy.exc
from pydantic import ValidationError
from twisted.python.failure import Failure

from softswitch.admin.schemas.common import UNION_TAGS
from softswitch.store.database import DatabaseStopped
from softswitch.store.errors import IntegrityKind, integrity_kind


class ApiError(Exception):
    def __init__(self, status: int, message: str, field: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field
        self.headers = headers or {}

    def body(self) -> dict:
        error = {"status": self.status, "message": self.message}
        if self.field is not None:
            error["field"] = self.field
        return {"error": error}


def not_found(kind: str, key) -> ApiError:
    return ApiError(404, f"{kind} {key!r} does not exist")


def already_exists(kind: str, key, field: str) -> ApiError:
    return ApiError(409, f"{kind} {key!r} already exists", field)


def missing_reference(kind: str, key, field: str) -> ApiError:
    return ApiError(422, f"{kind} {key!r} does not exist", field)


def still_referenced(kind: str, key, referrers: Sequence[tuple[str, str]],
                     limit: int = 10) -> ApiError:
    """409 naming who uses the object: "agent 'bot' is still used by the route of +1..."."""
    numbers = [name for what, name in referrers if what == "number"]
    parts = []
    if numbers:
        parts.append(f"the route of {', '.join(numbers)}")
    for what, name in referrers:
        if what == "outbound route":
            parts.append(f"the outbound route for prefix {name!r}")
        elif what != "number":
            parts.append(f"{what} {name!r}")
    more = " and more" if len(referrers) >= limit else ""
    return ApiError(409, f"{kind} {key!r} is still used by {', '.join(parts)}{more}")


def field_path(loc: Sequence) -> str | None:
    """pydantic's location as a dotted path, without tagged-union tags."""
    parts = []
    for position, item in enumerate(loc):
        follows_index = position > 0 and isinstance(loc[position - 1], int)
        if follows_index and item in UNION_TAGS and position < len(loc) - 1:
            continue
        parts.append(str(item))
    return ".".join(parts) or None


def _message(error: dict) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "field required"
    message = error["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        if message.startswith(prefix):
            return message[len(prefix):]
    return message


def from_validation(exc: ValidationError, prefix: Sequence = ()) -> ApiError:
    """The first error of a failed validation: 400 for broken JSON, 422 otherwise."""
    errors = exc.errors(include_url=False, include_input=False)
    first = errors[0]
    if first["type"] == "json_invalid":
        return ApiError(400, f"malformed JSON: {first['msg'].removeprefix('Invalid JSON: ')}")
    field = field_path((*prefix, *first["loc"]))
    message = _message(first)
    if field:
        message = f"{field}: {message}"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more error{'s' if len(errors) > 2 else ''})"
    return ApiError(422, message, field)


def to_api_error(failure: Failure, method: str) -> ApiError | None:
    """The answer for a failure, or None when it is unexpected (a 500)."""
    exc = failure.value
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, ValidationError):
        return from_validation(exc)
    if isinstance(exc, sqlalchemy.exc.IntegrityError):
        # The API checks its rules first; this is a lost race or a rule it missed.
        kind = integrity_kind(exc)
        if kind is IntegrityKind.UNIQUE:
            return ApiError(409, "it already exists (written concurrently)")
        if kind is IntegrityKind.FOREIGN_KEY:
            if method == "DELETE":
                return ApiError(409, "it is still referenced")
            return ApiError(422, "it refers to an object that does not exist")
        return ApiError(422, "the values break a rule of the store")
    if isinstance(exc, DatabaseStopped):
        return ApiError(503, "the switch is shutting down")
    return None


def is_database_outage(failure: Failure) -> bool:
    return failure.check(sqlalchemy.exc.OperationalError, sqlalchemy.exc.InterfaceError) is not None
