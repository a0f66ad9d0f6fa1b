"""What every handler module shares: cursors, pages, Location, key checks."""

import base64
import json
from urllib.parse import quote

from pydantic import BaseModel, ValidationError

from softswitch.admin.errors import ApiError, from_validation
from softswitch.admin.resource import Reply


def encode_cursor(key) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, kind: type):
    """The key a cursor stands for; 422 naming ``after`` if it is not one of ours."""
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError):
        key = None
    if type(key) is not kind:
        raise ApiError(422, "after: not a cursor returned by this API", "after")
    return key


def page(rows: list[dict], limit: int, key, out) -> dict:
    """{"items", "next"} from ``limit + 1`` rows; ``key(row)`` is the cursor key."""
    items = rows[:limit]
    following = encode_cursor(key(items[-1])) if len(rows) > limit else None
    return {"items": [out(row) for row in items], "next": following}


def created(body: dict, *path: str) -> Reply:
    location = "/" + "/".join(quote(str(part), safe="+") for part in path)
    return Reply(body, 201, {"Location": location})


def no_content(_=None) -> Reply:
    return Reply(None, 204)


def same_key(given, expected, field: str) -> None:
    """A key repeated in a PUT/PATCH body must be the one in the URL (no renames)."""
    if given is not None and given != expected:
        raise ApiError(422, f"{field}: {given!r} does not match the URL ({expected!r}); "
                            "renaming is not supported", field)


def revalidate(model: type[BaseModel], data: dict) -> BaseModel:
    """Validate a stored object merged with a PATCH, so cross-field rules hold."""
    try:
        return model.model_validate(data, strict=False)
    except ValidationError as exc:
        raise from_validation(exc) from None


def patch_values(body: BaseModel) -> dict:
    return body.model_dump(exclude_unset=True, by_alias=True)
