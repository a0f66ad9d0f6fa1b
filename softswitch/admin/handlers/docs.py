"""/v1/openapi.json: the API's own description.

Public on purpose: it describes shapes, holds no data, and lets tools
(schemathesis, code generators, Swagger UI) read it without a token.
"""

from softswitch.admin.openapi import openapi_document
from softswitch.admin.router import Route


def get_openapi(ctx, call):
    if ctx.openapi is None:
        ctx.openapi = openapi_document(list(ctx.routes), ctx.domain)
    return ctx.openapi


def routes() -> list[Route]:
    return [
        Route("GET", "/v1/openapi.json", get_openapi, summary="This OpenAPI 3.1 document",
              tag="meta", public=True),
    ]
