"""A real admin API for tests: a Site on 127.0.0.1:0 in the trial reactor,
a real HTTP client, and a database (SQLite file, or PostgreSQL).

PostgreSQL comes from SOFTSWITCH_TEST_PG_URL: one throw-away database per test
process, truncated before each test. Without the variable the PostgreSQL
cases fail under CI (env CI set) and are skipped, with a summary line, elsewhere.
"""

import atexit
import json
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from twisted.internet import defer, reactor
from twisted.trial.unittest import SkipTest, TestCase
from twisted.web.client import Agent, HTTPConnectionPool, readBody
from twisted.web.http_headers import Headers
from twisted.web.iweb import IBodyProducer
from zope.interface import implementer

from softswitch.admin.api import build_api
from softswitch.admin.throttle import BadTokenThrottle
from softswitch.edge.admin.site import build_root, build_site
from softswitch.metrics import Metrics
from softswitch.store import migrate, tokens
from softswitch.store.database import Database
from softswitch.store.secret_box import SecretBox
from softswitch.store.tables import metadata

PG_URL_VARIABLE = "SOFTSWITCH_TEST_PG_URL"
NOT_RUN_MESSAGE = (
    f"admin API PostgreSQL tests did not run: set {PG_URL_VARIABLE}, e.g. "
    "postgresql+psycopg://softswitch:softswitch@127.0.0.1:5432/softswitch_test"
)
TOKEN = "test-bootstrap-token-0123456789abcdef"
SECRETS_KEY = "u8oQ0oJkZ2b0H3f8y6mQe1rX0cH4tq1w9bqXz5J0r2k="  # a Fernet key for the tests
DOMAIN = "switch.test"
skipped_postgresql = []
_DEFAULT = object()


class _Databases:
    """A migrated SQLite template to copy, and one PostgreSQL database per process."""

    def __init__(self):
        self._dir = None
        self._template = None
        self._pg_url = None
        self._pg_engine = None

    def sqlite(self) -> str:
        """A fresh copy of the template, in this process's temporary directory
        (not the working directory: test runs leave nothing in the checkout)."""
        if self._template is None:
            self._dir = tempfile.mkdtemp(prefix="softswitch-admin-tests-")
            atexit.register(shutil.rmtree, self._dir, True)
            self._template = Path(self._dir) / "template.sqlite3"
            migrate.upgrade(f"sqlite:///{self._template}")
        path = Path(tempfile.mkdtemp(dir=self._dir)) / "softswitch.sqlite3"
        shutil.copyfile(self._template, path)
        return f"sqlite:///{path}"

    def postgresql(self) -> str:
        server_url = os.environ.get(PG_URL_VARIABLE)
        if not server_url:
            if os.environ.get("CI"):
                raise AssertionError(f"{NOT_RUN_MESSAGE} (required under CI)")
            skipped_postgresql.append(True)
            raise SkipTest(NOT_RUN_MESSAGE)
        if self._pg_url is None:
            name = f"softswitch_admin_test_{secrets.token_hex(6)}"
            admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
            self._pg_url = (sa.make_url(server_url).set(database=name)
                            .render_as_string(hide_password=False))
            migrate.upgrade(self._pg_url)
            self._pg_engine = sa.create_engine(self._pg_url, poolclass=sa.pool.NullPool)

            def drop():
                self._pg_engine.dispose()
                with admin.connect() as conn:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                admin.dispose()
            atexit.register(drop)
        names = ", ".join(table.name for table in metadata.sorted_tables)
        with self._pg_engine.begin() as conn:
            conn.exec_driver_sql(f"TRUNCATE {names} RESTART IDENTITY CASCADE")
        return self._pg_url


databases = _Databases()


@implementer(IBodyProducer)
class _Bytes:
    def __init__(self, data: bytes):
        self._data = data
        self.length = len(data)

    def startProducing(self, consumer):
        consumer.write(self._data)
        return defer.succeed(None)

    def pauseProducing(self):
        pass

    def stopProducing(self):
        pass


@dataclass
class Response:
    status: int
    headers: Headers
    json: object
    raw: bytes

    def header(self, name: str) -> str | None:
        values = self.headers.getRawHeaders(name)
        return values[0] if values else None

    @property
    def error(self) -> dict:
        return self.json["error"]


class ApiTestCase(TestCase):
    """Each test gets a fresh database and a live API with the bootstrap TOKEN."""

    backend = "sqlite"
    token_ttl = 5.0
    bad_token_limit = 10  # bad tokens from one address before 429 (admin.throttle)

    def setUp(self):
        if self.backend == "postgresql":
            url = databases.postgresql()
        else:
            url = databases.sqlite()
        self.url = url
        self.changes = []
        self.metrics = Metrics()
        self.database = Database(url, reactor, observe=self.metrics.observe_db,
                                 secret_box=SecretBox(SECRETS_KEY))
        self.database.run_sync(tokens.ensure_bootstrap_token, TOKEN)
        self.database.start()
        self.addCleanup(self.database.stop)
        self.api = build_api(self.database, reactor, domain=DOMAIN,
                             on_change=self.changes.append, metrics=self.metrics,
                             token_ttl=self.token_ttl, calls=self.calls_view(),
                             throttle=BadTokenThrottle(reactor, limit=self.bad_token_limit),
                             registrations=self.registrations_view())
        site = build_site(build_root(self.metrics.registry, lambda: {"status": "ok"}, self.api),
                          self.api, reactor, metrics=self.metrics,
                          **self.listener_options())
        self.port = reactor.listenTCP(0, site, interface="127.0.0.1")
        self.addCleanup(self.port.stopListening)
        self.base = f"http://127.0.0.1:{self.port.getHost().port}"
        pool = HTTPConnectionPool(reactor, persistent=True)
        self.addCleanup(pool.closeCachedConnections)
        self.agent = Agent(reactor, pool=pool)

    def listener_options(self) -> dict:
        """Options of the admin listener (edge.admin.site.build_site)."""
        return {}

    def calls_view(self):
        """What the API shows as calls in progress; None: no switch, no calls."""
        return None

    def registrations_view(self):
        """Where the API reads registrations; None: the database (no switch)."""
        return None

    @defer.inlineCallbacks
    def request(self, method: str, path: str, body=None, token=_DEFAULT, raw: bytes | None = None,
                headers: dict | None = None):
        """One HTTP request; ``body`` is sent as JSON, ``raw`` as is."""
        token = TOKEN if token is _DEFAULT else token
        sent = Headers({"accept": ["application/json"]})
        if token is not None:
            sent.addRawHeader("authorization", f"Bearer {token}")
        for name, value in (headers or {}).items():
            sent.addRawHeader(name, value)
        data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
        producer = None if data is None else _Bytes(data)
        response = yield self.agent.request(method.encode(), (self.base + path).encode(),
                                            sent, producer)
        payload = yield readBody(response)
        content_type = response.headers.getRawHeaders("content-type", [""])[0]
        parsed = json.loads(payload) if content_type.startswith("application/json") else None
        return Response(response.code, response.headers, parsed, payload)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, body, **kw)

    def http_patch(self, path, body=None, **kw):
        return self.request("PATCH", path, body, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    @defer.inlineCallbacks
    def created(self, path: str, body: dict) -> dict:
        """POST that must succeed; the created object."""
        response = yield self.post(path, body)
        self.assertEqual(response.status, 201, response.json)
        return response.json

    @defer.inlineCallbacks
    def seed(self):
        """A small world: region eu, trunk carrier-a, agent support-bot, user alice."""
        yield self.created("/v1/regions", {"name": "eu", "bind": "127.0.0.1",
                                           "port_min": 20000, "port_max": 20999})
        yield self.created("/v1/trunks", {
            "name": "carrier-a",
            "gateways": [{"host": "192.0.2.10", "region": "eu"}],
            "inbound": {"allowed_sources": ["192.0.2.0/24"]},
            "auth": {"username": "acct", "password": "trunk-secret"},
        })
        yield self.created("/v1/agents", {
            "name": "support-bot", "url": "wss://agent.example/ws", "region": "eu",
            "secret_headers": {"Authorization": "Bearer agent-secret"},
        })
        yield self.created("/v1/users", {"username": "alice", "password": "alice-password"})
