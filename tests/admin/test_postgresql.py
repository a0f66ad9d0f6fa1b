"""The admin API on PostgreSQL: the resource and error suites again, and races
that only a multi-threaded database shows (a lost race is a 409, never a 500)."""

import pytest
from twisted.internet import defer

import test_auth
import test_errors
import test_resources
from admin_harness import ApiTestCase

# Subclassed through their modules, so this module does not collect the
# SQLite classes a second time.


@pytest.mark.postgres
class PostgreSQLResourceTests(test_resources.ResourceTests):
    backend = "postgresql"


@pytest.mark.postgres
class PostgreSQLErrorTests(test_errors.ErrorTests):
    backend = "postgresql"


@pytest.mark.postgres
class PostgreSQLTokenTests(test_auth.TokenTests):
    backend = "postgresql"


@pytest.mark.postgres
class PostgreSQLRaceTests(ApiTestCase):
    backend = "postgresql"

    @defer.inlineCallbacks
    def test_concurrent_creates_of_one_name_give_one_201_and_409s(self):
        body = {"name": "eu", "bind": "127.0.0.1", "port_min": 20000, "port_max": 20999}
        responses = yield defer.gatherResults(
            [self.post("/v1/regions", body) for _ in range(8)])
        statuses = sorted(r.status for r in responses)
        self.assertEqual(statuses, [201] + [409] * 7)

    @defer.inlineCallbacks
    def test_a_delete_racing_a_new_reference_never_half_applies(self):
        yield self.seed()
        results = yield defer.gatherResults([
            self.post("/v1/numbers", {"number": "+14155550100",
                                      "route": [{"type": "agent", "agent": "support-bot"}]}),
            self.delete("/v1/agents/support-bot"),
        ])
        created, deleted = results
        self.assertIn((created.status, deleted.status), [(201, 409), (422, 204)])
