"""A trunk's TLS client certificate over the API: PEM or a file path; a PEM key is
sealed at rest, never returned, kept across PATCH and opened for the snapshot (the
edge presents it to gateways that ask, tests/edge/test_sip_tls.py)."""

import tempfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from twisted.internet import defer

from admin_harness import ApiTestCase
from softswitch.services.routing import snapshot_from_rows
from softswitch.store import snapshot
from tls_pki import Pki


class TrunkTlsApiTests(ApiTestCase):
    def setUp(self):
        super().setUp()
        directory = tempfile.TemporaryDirectory()
        self.addCleanup(directory.cleanup)
        pki = Pki(Path(directory.name))
        cert, key = pki.issue("trunk-client", "switch.test", client=True)
        self.cert_pem, self.key_pem = cert.read_text(), key.read_text()

    def trunk(self, tls):
        return {"name": "secure", "gateways": [{"host": "sip.carrier.test", "port": 5061,
                                                "transport": "tls"}], "tls": tls}

    @defer.inlineCallbacks
    def test_a_pem_client_key_is_sealed_never_shown_and_reaches_the_snapshot(self):
        response = yield self.post("/v1/trunks", self.trunk(
            {"client_certificate": self.cert_pem, "client_key": self.key_pem}))
        self.assertEqual(response.status, 201, response.raw)
        self.assertEqual(response.json["tls"], {"client_certificate": self.cert_pem,
                                                "client_key_set": True})
        key_body = self.key_pem.splitlines()[1]
        self.assertNotIn(key_body, response.raw.decode())
        stored = yield self.database.run("test.stored", lambda conn: repr(
            [tuple(r) for r in conn.execute(sa.text("SELECT tls_client_key FROM trunks"))]))
        self.assertNotIn(key_body, stored)
        self.assertIn("fernet:", stored)
        patched = yield self.http_patch("/v1/trunks/secure", {"max_cps": 3.0})
        self.assertEqual(patched.json["tls"]["client_key_set"], True)
        rows = yield self.database.run("test.snapshot", snapshot.load_routing_rows)
        trunk = snapshot_from_rows(rows).trunks["secure"]
        self.assertEqual((trunk.tls_client_certificate, trunk.tls_client_key),
                         (self.cert_pem, self.key_pem))
        self.assertNotIn(key_body, repr(trunk))

    @defer.inlineCallbacks
    def test_file_paths_are_kept_as_given(self):
        response = yield self.post("/v1/trunks", self.trunk(
            {"client_certificate": "/etc/softswitch/carrier.pem",
             "client_key": "/etc/softswitch/carrier.key"}))
        self.assertEqual(response.status, 201, response.raw)
        rows = yield self.database.run("test.snapshot", snapshot.load_routing_rows)
        trunk = snapshot_from_rows(rows).trunks["secure"]
        self.assertEqual(trunk.tls_client_key, "/etc/softswitch/carrier.key")

    @defer.inlineCallbacks
    def test_what_is_neither_pem_nor_an_absolute_path_is_refused(self):
        for tls, field in (
                ({"client_certificate": "carrier.pem", "client_key": "/k"},
                 "tls.client_certificate"),
                ({"client_certificate": "-----BEGIN CERTIFICATE-----\nAAAA\n", "client_key": "/k"},
                 "tls.client_certificate"),
                ({"client_certificate": "/c", "client_key": "-----BEGIN PRIVATE KEY-----\n"},
                 "tls.client_key")):
            response = yield self.post("/v1/trunks", self.trunk(tls))
            self.assertEqual(response.status, 422, response.raw)
            self.assertEqual(response.json["error"]["field"], field)
        listed = yield self.get("/v1/trunks")
        self.assertEqual(listed.json["items"], [])


@pytest.mark.postgres
class PostgreSQLTrunkTlsApiTests(TrunkTlsApiTests):
    backend = "postgresql"
