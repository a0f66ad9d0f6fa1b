"""What every handler module shares: cursors, pages, Location, key checks, and
``NamedResource``, the get/list/create/replace/patch/delete shape of a collection."""

from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Callable
from urllib.parse import quote

from pydantic import BaseModel, ValidationError

from softswitch.admin.errors import (
    ApiError,
    already_exists,
    from_validation,
    not_found,
    still_referenced,
)
from softswitch.admin.resource import Reply


def encode_cursor(key) -> str:
    """A cursor is the key of the last item shown, as text: an id, a name, or a
    number's digits without '+' (a '+' left unencoded in a query would read as a
    space)."""
    return str(key).removeprefix("+")


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


def _unscoped(ctx) -> tuple:
    return ()


@dataclass(frozen=True)
class NamedResource:
    """A collection as the shared handlers see it; its module keeps the rest.

    ``kind`` is the collection's path segment, change kind and database desc
    prefix ("agents": /v1/agents, "agents.get"); ``noun`` names one object in
    messages ("agent"); ``key`` is the path parameter and the row field that
    name one object and order the list ("name"; an "id" is an integer).

    Store functions are called ``(conn, key, *scope(ctx))`` (users: the
    domain): ``lookup`` reads a row or None; ``lookup_for_write`` reads it with
    the write-only fields a PATCH must keep (default: ``lookup``). ``out(row)``
    is the response body. Functions of the module (``insert``, ``save``) are
    called with ``ctx`` first, like handlers.
    """

    kind: str
    noun: str
    key: str
    lookup: Callable[..., dict | None]
    out: Callable[[dict], dict]
    scope: Callable[[Any], tuple] = _unscoped
    lookup_for_write: Callable[..., dict | None] | None = None

    def find(self, ctx, conn, key, lookup=None) -> dict:
        """The object's row; 404 when there is none."""
        row = (lookup or self.lookup)(conn, key, *self.scope(ctx))
        if row is None:
            raise not_found(self.noun, key)
        return row

    def list(self, ctx, call, fetch, *args):
        """GET the collection: a page of ``fetch(conn, *args, after, limit)``."""
        query = call.query
        after = query.after  # an id (IdListQuery) or a name
        if self.key == "number" and after is not None:
            after = "+" + after.lstrip("+ ")  # see encode_cursor
        d = ctx.run(f"{self.kind}.list", fetch, *args, after, query.limit + 1)
        return d.addCallback(page, query.limit, itemgetter(self.key), self.out)

    def get(self, ctx, call):
        """GET one object."""
        key = call.params[self.key]
        return ctx.run(f"{self.kind}.get", lambda conn: self.out(self.find(ctx, conn, key)))

    def create(self, ctx, call, insert):
        """POST: 409 if the body's key is taken, else the row ``insert(ctx, conn, body)``
        writes; 201 with its Location."""
        body = call.body
        key = getattr(body, self.key, None)  # None: the store assigns it (an id)

        def transaction(conn):
            if key is not None and self.lookup(conn, key, *self.scope(ctx)) is not None:
                raise already_exists(self.noun, key, self.key)
            return self.out(insert(ctx, conn, body))

        def located(out):
            return created(out, "v1", self.kind, out[self.key])
        return ctx.write(self.kind, f"{self.kind}.create", transaction).addCallback(located)

    def update(self, ctx, key, write):
        """Find the object (404) and store ``write(conn, row)``, which returns the new row."""
        def transaction(conn):
            return self.out(write(conn, self.find(ctx, conn, key, self.lookup_for_write)))
        return ctx.write(self.kind, f"{self.kind}.update", transaction)

    def replace(self, ctx, call, save):
        """PUT: ``save(ctx, conn, key, body)`` stores the body over the object."""
        key = call.params[self.key]
        same_key(getattr(call.body, self.key, None), key, self.key)
        return self.update(ctx, key, lambda conn, row: save(ctx, conn, key, call.body))

    def patch(self, ctx, call, model, current, save, changes=None):
        """PATCH: the changes laid over the object as a PUT body (``current(row)``),
        validated again as ``model`` (cross-field rules) and saved like a PUT."""
        key = call.params[self.key]
        changes = patch_values(call.body) if changes is None else changes
        same_key(changes.pop(self.key, None), key, self.key)

        def write(conn, row):
            return save(ctx, conn, key, revalidate(model, {**current(row), **changes}))
        return self.update(ctx, key, write)

    def delete(self, ctx, call, remove, referrers=None):
        """DELETE: 409 naming what ``referrers`` finds, 404 when ``remove`` finds nothing."""
        key = call.params[self.key]

        def transaction(conn):
            scope = self.scope(ctx)
            if referrers is not None:
                self.find(ctx, conn, key)
                found = referrers(conn, key, *scope)
                if found:
                    raise still_referenced(self.noun, key, found)
            if not remove(conn, key, *scope):
                raise not_found(self.noun, key)
        return ctx.write(self.kind, f"{self.kind}.delete", transaction).addCallback(no_content)
