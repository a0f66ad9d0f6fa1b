"""Secrets through the API: stored sealed (store.secret_box), never shown, kept across
PATCH, and opened for the routing snapshot."""

import pytest
import sqlalchemy as sa
from twisted.internet import defer

from admin_harness import ApiTestCase
from softswitch.store import snapshot


class SecretsApiTests(ApiTestCase):
    def stored(self):
        def read(conn):
            return repr([tuple(r) for r in conn.execute(sa.text("SELECT * FROM trunks"))]
                        + [tuple(r) for r in conn.execute(sa.text("SELECT * FROM agents"))])
        return self.database.run("test.stored", read)

    @defer.inlineCallbacks
    def test_secrets_are_sealed_at_rest_and_never_returned(self):
        yield self.seed()
        stored = yield self.stored()
        for secret in ("trunk-secret", "agent-secret"):
            self.assertNotIn(secret, stored)
        self.assertIn("fernet:", stored)
        for path in ("/v1/trunks", "/v1/trunks/carrier-a", "/v1/agents",
                     "/v1/agents/support-bot"):
            response = yield self.get(path)
            self.assertEqual(response.status, 200)
            for secret in ("trunk-secret", "agent-secret", "fernet"):
                self.assertNotIn(secret, response.raw.decode(), path)
        # A PATCH that leaves them out keeps them, still sealed.
        yield self.http_patch("/v1/trunks/carrier-a", {"max_cps": 3.0})
        yield self.http_patch("/v1/agents/support-bot", {"sample_rate": 16000})
        stored = yield self.stored()
        self.assertNotIn("trunk-secret", stored)
        self.assertNotIn("agent-secret", stored)
        rows = yield self.database.run("test.snapshot", snapshot.load_routing_rows)
        self.assertEqual(rows["trunks"][0]["auth_password"], "trunk-secret")
        self.assertEqual(rows["agents"][0]["secret_headers"],
                         {"Authorization": "Bearer agent-secret"})


@pytest.mark.postgres
class PostgreSQLSecretsApiTests(SecretsApiTests):
    backend = "postgresql"
