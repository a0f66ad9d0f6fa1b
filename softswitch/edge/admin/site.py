"""The admin HTTP listener: /metrics and /healthz (the /v1 API mounts here too)."""

import json

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from twisted.web.resource import Resource

from ...admin.resource import MAX_BODY_BYTES
from .guard import AdminListener, AdminSite


class MetricsResource(Resource):
    isLeaf = True

    def __init__(self, registry):
        super().__init__()
        self._registry = registry

    def render_GET(self, request):
        request.setHeader(b"content-type", CONTENT_TYPE_LATEST.encode())
        return generate_latest(self._registry)


class HealthResource(Resource):
    isLeaf = True

    def __init__(self, health_check):
        super().__init__()
        self._check = health_check

    def render_GET(self, request):
        status = self._check()
        request.setHeader(b"content-type", b"application/json")
        if status.get("status") != "ok":
            request.setResponseCode(503)
        return json.dumps(status).encode()


class VersionResource(Resource):
    """/v1: the API (a leaf that routes on the whole path) below every child not put
    here; the echo agent is put here so that /v1/echo-agent needs no token."""

    def __init__(self, api: Resource | None):
        super().__init__()
        self._api = api

    def getChild(self, path, request):
        return self._api if self._api is not None else super().getChild(path, request)

    def render(self, request):
        return self._api.render(request) if self._api is not None else super().render(request)


def build_root(registry, health_check, api: Resource | None = None,
               echo_agent: Resource | None = None,
               twilio_api: Resource | None = None) -> Resource:
    """The admin site's root; ``api`` (softswitch.admin.api.build_api) serves /v1,
    ``echo_agent`` the built-in echo agent's WebSocket at /v1/echo-agent (and at
    /echo-agent, where databases made before it moved still point), ``twilio_api``
    (softswitch.admin.twilio_api) Twilio's REST paths at /2010-04-01."""
    root = Resource()
    if twilio_api is not None:
        root.putChild(b"2010-04-01", twilio_api)
    root.putChild(b"metrics", MetricsResource(registry))
    root.putChild(b"healthz", HealthResource(health_check))
    version = VersionResource(api)
    root.putChild(b"v1", version)
    if echo_agent is not None:
        version.putChild(b"echo-agent", echo_agent)
        root.putChild(b"echo-agent", echo_agent)
    return root


def build_site(root: Resource, api, clock, *, max_connections: int = 256,
               header_timeout: float = 10.0, max_body: int = MAX_BODY_BYTES,
               metrics=None,
               self_authenticating: tuple[tuple[bytes, int], ...] = ()) -> AdminListener:
    """The admin listener's factory over ``root`` (build_root): bodies authenticated
    with ``api``'s tokens and throttle before they are read, connections capped and
    request heads timed (edge.admin.guard); refusals counted in ``metrics``.
    ``self_authenticating``: (path prefix, body cap) of resources that check their
    own credentials (the Twilio-compatible REST paths)."""
    site = AdminSite(root, tokens=getattr(api, "tokens", None),
                     throttle=getattr(api, "throttle", None), max_body=max_body,
                     metrics=metrics, self_authenticating=self_authenticating,
                     reactor=clock)
    site.noisy = False
    listener = AdminListener(site, clock, max_connections=max_connections,
                             header_timeout=header_timeout)
    listener.noisy = False
    return listener
