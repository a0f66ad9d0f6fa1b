"""The OpenAPI 3.1 document, generated from the route table and its models.

The models that validate requests are the ones described here, so the
document cannot drift from what the API accepts and answers.
"""

from pydantic.json_schema import models_json_schema

from softswitch.admin.router import PATH_PARAMS, Route
from softswitch.admin.schemas.common import ErrorBody

REF_TEMPLATE = "#/components/schemas/{model}"
TITLE = "softswitch admin API"
VERSION = "1"
_WRITES = ("POST", "PUT", "PATCH", "DELETE")
_ERRORS = {
    400: "Malformed JSON or a missing body",
    401: "Missing, wrong or revoked bearer token",
    404: "No such object",
    409: "Duplicate, still referenced by another object, or a call not answered yet",
    413: "Body too large",
    422: "A field is invalid or refers to a missing object; `field` names it",
    429: "Too many bad tokens from this address; `Retry-After` says when to try again",
    503: "The database is unavailable or the switch is stopping",
}
DESCRIPTION = (
    "Manage the switch: SIP users, media regions, trunks, AI agents, numbers and their "
    "routes, outbound routes, API tokens; read registrations and call records; list "
    "and hang up the calls in progress. Every "
    "endpoint but this document needs `Authorization: Bearer TOKEN`. Errors are "
    '`{"error": {"status", "message", "field"}}`. Lists are pages: '
    '`{"items": [...], "next": cursor-or-null}`; pass `?after=cursor` for the next one. '
    "Times are RFC 3339 strings in UTC with milliseconds (2026-12-03T14:00:00.123Z); "
    "the `from`/`to` filters of call records take RFC 3339 or epoch seconds."
)


# A field marked so in its schema takes only the switch's SIP domain.
SWITCH_DOMAIN = "x-switch-domain"


def openapi_document(routes: list[Route], domain: str | None = None) -> dict:
    """The document; `domain` is the SIP domain the users' `domain` must equal."""
    wanted = [(ErrorBody, "serialization")]
    for route in routes:
        if route.body_model is not None:
            wanted.append((route.body_model, "validation"))
        if route.response_model is not None:
            wanted.append((route.response_model, "serialization"))
    unique = list(dict.fromkeys(wanted))
    refs, defs = models_json_schema(unique, ref_template=REF_TEMPLATE)
    _name_the_domain(defs, domain)
    paths: dict[str, dict] = {}
    for route in routes:
        paths.setdefault(route.pattern, {})[route.method.lower()] = _operation(route, refs)
    return {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": VERSION, "description": DESCRIPTION},
        "servers": [{"url": "/"}],
        "security": [{"bearerAuth": []}],
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        },
    }


def _name_the_domain(schema, domain: str | None) -> None:
    if isinstance(schema, dict):
        if schema.pop(SWITCH_DOMAIN, False) and domain is not None:
            schema["enum"] = [domain]
        for value in schema.values():
            _name_the_domain(value, domain)
    elif isinstance(schema, list):
        for value in schema:
            _name_the_domain(value, domain)


def _operation(route: Route, refs: dict) -> dict:
    operation = {
        "operationId": route.handler.__name__,
        "summary": route.summary,
        "tags": [route.tag] if route.tag else [],
        "parameters": _path_parameters(route) + _query_parameters(route),
        "responses": _responses(route, refs),
    }
    if route.body_model is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[route.body_model, "validation"]}},
        }
    if route.public:
        operation["security"] = []
    return operation


def _path_parameters(route: Route) -> list[dict]:
    return [
        {"name": name, "in": "path", "required": True,
         "description": PATH_PARAMS[name].description, "schema": PATH_PARAMS[name].schema}
        for name in route.params
    ]


def _query_parameters(route: Route) -> list[dict]:
    if route.query_model is None:
        return []
    schema = route.query_model.model_json_schema(mode="validation", ref_template=REF_TEMPLATE)
    required = set(schema.get("required", ()))
    parameters = []
    for name, prop in schema["properties"].items():
        prop = _without_null(prop)
        prop.pop("title", None)
        description = prop.pop("description", None)
        parameter = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters


def _without_null(prop: dict) -> dict:
    """A query parameter is absent or a string: drop the 'null' branch of Optional."""
    prop = dict(prop)
    branches = prop.pop("anyOf", None)
    if branches is not None:
        kept = [b for b in branches if b.get("type") != "null"]
        if len(kept) == 1:
            prop = {**kept[0], **prop}
        else:
            prop["anyOf"] = kept
    if prop.get("default", 0) is None:
        del prop["default"]
    return prop


def _responses(route: Route, refs: dict) -> dict:
    success: dict = {"description": route.summary or "OK"}
    if route.response_model is not None:
        schema = refs[route.response_model, "serialization"]
        success["content"] = {"application/json": {"schema": schema}}
    elif route.status != 204:
        success["content"] = {"application/json": {"schema": {"type": "object"}}}
    if route.status == 201:
        success["headers"] = {"Location": {"schema": {"type": "string"},
                                           "description": "the new object's URL"}}
    responses = {str(route.status): success}
    codes = set()
    if not route.public:
        codes |= {401, 429, 503}
    if route.body_model is not None:
        codes |= {400, 413, 422}
    if route.query_model is not None:
        codes.add(422)
    if route.params:
        codes.add(404)
    if route.method in _WRITES and route.tag != "tokens":
        codes.add(409)
    if not route.public:
        codes.add(422)  # also an unexpected query parameter
    error_schema = refs[ErrorBody, "serialization"]
    for code in sorted(codes):
        response = {"description": _ERRORS[code],
                    "content": {"application/json": {"schema": error_schema}}}
        if code == 401:
            response["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
        if code == 429:
            response["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
        responses[str(code)] = response
    return responses
