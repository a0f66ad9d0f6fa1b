"""Every resource's happy path through the live API: create (201 + Location),
get, list and paginate, PUT, PATCH, DELETE (204); write-only fields never shown."""

import json

from twisted.internet import defer

from admin_harness import ApiTestCase
from softswitch.services.routing import snapshot_from_rows
from softswitch.store.snapshot import load_routing_rows

SECRETS = ("trunk-secret", "agent-secret", "alice-password", "ha1")


class ResourceTests(ApiTestCase):
    def assertNoSecrets(self, response):
        for secret in SECRETS:
            self.assertNotIn(secret, response.raw.decode())

    @defer.inlineCallbacks
    def test_users(self):
        response = yield self.post("/v1/users", {"username": "alice", "password": "s3cret-pass",
                                                 "display_name": "Alice"})
        self.assertEqual(response.status, 201)
        self.assertEqual(response.header("Location"), "/v1/users/alice")
        self.assertEqual(response.json["domain"], "switch.test")
        self.assertNotIn("password", response.json)
        got = yield self.get("/v1/users/alice")
        self.assertEqual(got.json, response.json)
        put = yield self.put("/v1/users/alice", {"password": "another-pass", "enabled": False})
        self.assertEqual((put.json["display_name"], put.json["enabled"]), (None, False))
        patched = yield self.http_patch("/v1/users/alice", {"display_name": "A.", "enabled": True})
        self.assertEqual((patched.json["display_name"], patched.json["enabled"]), ("A.", True))
        listed = yield self.get("/v1/users")
        self.assertEqual([u["username"] for u in listed.json["items"]], ["alice"])
        gone = yield self.delete("/v1/users/alice")
        self.assertEqual((gone.status, gone.raw), (204, b""))
        missing = yield self.get("/v1/users/alice")
        self.assertEqual(missing.status, 404)
        self.assertEqual(self.changes, ["users"] * 4)

    @defer.inlineCallbacks
    def test_password_changes_reach_the_hashes(self):
        from softswitch.store import users
        yield self.created("/v1/users", {"username": "bob", "password": "first-pass"})
        before = self.database.run_sync(users.load_credentials)
        yield self.http_patch("/v1/users/bob", {"password": "second-pass"})
        after = self.database.run_sync(users.load_credentials)
        self.assertNotEqual(before["bob", "switch.test"], after["bob", "switch.test"])
        self.assertEqual(after["bob", "switch.test"]["md5"],
                         users.ha1("bob", "switch.test", "second-pass", "md5"))

    @defer.inlineCallbacks
    def test_regions(self):
        body = {"name": "eu-west", "bind": "10.0.0.5", "port_min": 20000, "port_max": 30000}
        created = yield self.created("/v1/regions", body)
        self.assertEqual(created["advertise"], "10.0.0.5")
        put = yield self.put("/v1/regions/eu-west", {**body, "advertise": "203.0.113.5"})
        self.assertEqual(put.json["advertise"], "203.0.113.5")
        patched = yield self.http_patch("/v1/regions/eu-west", {"port_max": 40000})
        self.assertEqual((patched.json["port_min"], patched.json["port_max"]), (20000, 40000))
        self.assertEqual(patched.json["advertise"], "203.0.113.5")
        gone = yield self.delete("/v1/regions/eu-west")
        self.assertEqual(gone.status, 204)

    @defer.inlineCallbacks
    def test_trunks_with_gateways_and_write_only_auth(self):
        yield self.seed()
        got = yield self.get("/v1/trunks/carrier-a")
        self.assertEqual(got.json["auth"], {"username": "acct", "password_set": True})
        self.assertEqual(got.json["gateways"], [{"host": "192.0.2.10", "port": 5060,
                                                 "transport": "udp", "region": "eu",
                                                 "priority": 0, "weight": 1}])
        self.assertNoSecrets(got)
        put = yield self.put("/v1/trunks/carrier-a", {
            "gateways": [{"host": "SIP.Carrier.Example", "port": 5061, "transport": "tls"},
                         {"host": "2001:db8::1", "priority": 5}],
            "max_concurrent": 30, "max_cps": 2.5, "number_format": "national:44",
        })
        self.assertEqual(put.status, 200, put.json)
        self.assertEqual([g["host"] for g in put.json["gateways"]],
                         ["sip.carrier.example", "2001:db8::1"])
        self.assertIsNone(put.json["auth"])  # PUT replaces the whole trunk
        patched = yield self.http_patch("/v1/trunks/carrier-a", {
            "auth": {"username": "u2", "password": "p2"}, "register": True})
        self.assertEqual(patched.json["auth"], {"username": "u2", "password_set": True})
        self.assertEqual(len(patched.json["gateways"]), 2)  # untouched by the PATCH
        again = yield self.http_patch("/v1/trunks/carrier-a", {"max_cps": None})
        self.assertEqual(again.json["auth"]["password_set"], True)  # kept across PATCH
        self.assertIsNone(again.json["max_cps"])
        listed = yield self.get("/v1/trunks")
        self.assertNoSecrets(listed)
        self.assertNotIn("p2", listed.raw.decode())

    @defer.inlineCallbacks
    def test_agents_show_secret_header_names_only(self):
        yield self.seed()
        got = yield self.get("/v1/agents/support-bot")
        self.assertEqual(got.json["secret_header_names"], ["Authorization"])
        self.assertEqual((got.json["profile"], got.json["sample_rate"]), ("twilio", 8000))
        self.assertNoSecrets(got)
        patched = yield self.http_patch("/v1/agents/support-bot", {"profile": "openai-realtime"})
        self.assertEqual(patched.json["sample_rate"], 8000)  # audio/pcmu, no transcoding
        self.assertEqual(patched.json["secret_header_names"], ["Authorization"])
        put = yield self.put("/v1/agents/support-bot", {
            "url": "ws://127.0.0.1:9000/agent", "profile": "raw", "sample_rate": 16000,
            "headers": {"X-Tenant": "acme"}, "custom_parameters": {"lang": "en"}})
        self.assertEqual(put.json["headers"], {"X-Tenant": "acme"})
        self.assertEqual(put.json["secret_header_names"], [])
        self.assertIsNone(put.json["region"])

    @defer.inlineCallbacks
    def test_agents_twilio_credentials_show_the_account_and_hide_the_token(self):
        sid, token = "AC" + "0123456789abcdef" * 2, "f" * 32
        response = yield self.post("/v1/agents", {
            "name": "pipecat", "url": "wss://bot.example/ws", "account_sid": sid,
            "auth_token": token})
        self.assertEqual(response.status, 201, response.json)
        self.assertEqual((response.json["account_sid"], response.json["auth_token_set"]),
                         (sid, True))
        self.assertNotIn("auth_token", response.json)
        got = yield self.get("/v1/agents/pipecat")
        self.assertNotIn(token, got.raw.decode())
        patched = yield self.http_patch("/v1/agents/pipecat", {"profile": "raw"})
        self.assertTrue(patched.json["auth_token_set"])  # kept across PATCH
        bare = yield self.put("/v1/agents/pipecat", {"url": "wss://bot.example/ws"})
        self.assertEqual((bare.json["account_sid"], bare.json["auth_token_set"]), (None, False))
        for body, field in (({"auth_token": token}, "auth_token"),
                            ({"account_sid": "ACsoftswitch"}, "account_sid"),
                            ({"account_sid": sid, "auth_token": "short"}, "auth_token"),
                            ({"account_sid": sid, "auth_token": "a b" * 10}, "auth_token")):
            refused = yield self.http_patch("/v1/agents/pipecat", body)
            self.assertEqual(refused.status, 422, body)
            self.assertIn(field, json.dumps(refused.json))

    @defer.inlineCallbacks
    def test_a_trunks_media_encryption_reaches_the_routing_snapshot(self):
        yield self.seed()
        got = yield self.get("/v1/trunks/carrier-a")
        self.assertEqual(got.json["media_encryption"], "none")
        patched = yield self.http_patch("/v1/trunks/carrier-a", {"media_encryption": "sdes"})
        self.assertEqual(patched.json["media_encryption"], "sdes")
        rows = self.database.run_sync(load_routing_rows)
        self.assertEqual(snapshot_from_rows(rows).trunks["carrier-a"].media_encryption, "sdes")
        put = yield self.put("/v1/trunks/carrier-a", {"media_encryption": "optional"})
        self.assertEqual(put.json["media_encryption"], "optional")
        for value in ("dtls", "", None, True):
            refused = yield self.http_patch("/v1/trunks/carrier-a", {"media_encryption": value})
            self.assertEqual(refused.status, 422, value)
            self.assertIn("media_encryption", json.dumps(refused.json))

    @defer.inlineCallbacks
    def test_a_trunks_allow_refer_reaches_the_routing_snapshot(self):
        yield self.seed()
        got = yield self.get("/v1/trunks/carrier-a")
        self.assertIs(got.json["allow_refer"], False)
        patched = yield self.http_patch("/v1/trunks/carrier-a", {"allow_refer": True})
        self.assertIs(patched.json["allow_refer"], True)
        rows = self.database.run_sync(load_routing_rows)
        self.assertIs(snapshot_from_rows(rows).trunks["carrier-a"].allow_refer, True)
        refused = yield self.http_patch("/v1/trunks/carrier-a", {"allow_refer": "perhaps"})
        self.assertEqual(refused.status, 422)
        self.assertIn("allow_refer", json.dumps(refused.json))

    @defer.inlineCallbacks
    def test_an_agents_webhook_url_is_kept_and_must_be_http(self):
        response = yield self.post("/v1/agents", {
            "name": "hooked", "url": "wss://bot.example/ws",
            "webhook_url": "https://bot.example/events"})
        self.assertEqual(response.status, 201, response.json)
        self.assertEqual(response.json["webhook_url"], "https://bot.example/events")
        patched = yield self.http_patch("/v1/agents/hooked", {"profile": "raw"})
        self.assertEqual(patched.json["webhook_url"], "https://bot.example/events")
        for url in ("ftp://bot.example/", "https://user:pw@bot.example/", "https://"):
            refused = yield self.http_patch("/v1/agents/hooked", {"webhook_url": url})
            self.assertEqual(refused.status, 422, url)
            self.assertIn("webhook_url", json.dumps(refused.json))
        bare = yield self.put("/v1/agents/hooked", {"url": "wss://bot.example/ws"})
        self.assertIsNone(bare.json["webhook_url"])

    @defer.inlineCallbacks
    def test_numbers_with_an_ordered_route(self):
        yield self.seed()
        route = [{"type": "agent", "agent": "support-bot"}, {"type": "user", "user": "alice"},
                 {"type": "trunk", "trunk": "carrier-a"}, {"type": "reject", "code": 486}]
        response = yield self.post("/v1/numbers", {"number": "+1 (415) 555-0100",
                                                   "route": route})
        self.assertEqual(response.status, 201, response.json)
        self.assertEqual(response.header("Location"), "/v1/numbers/+14155550100")
        self.assertEqual(response.json["route"], route)
        for path in ("/v1/numbers/+14155550100", "/v1/numbers/%2B14155550100"):
            got = yield self.get(path)
            self.assertEqual(got.json["number"], "+14155550100")
        put = yield self.put("/v1/numbers/%2B14155550100",
                             {"route": [{"type": "reject", "code": 404}],
                              "description": "parked"})
        self.assertEqual(put.json["route"], [{"type": "reject", "code": 404}])
        patched = yield self.http_patch("/v1/numbers/+14155550100", {"enabled": False})
        self.assertEqual((patched.json["enabled"], patched.json["description"]),
                         (False, "parked"))
        gone = yield self.delete("/v1/numbers/+14155550100")
        self.assertEqual(gone.status, 204)

    @defer.inlineCallbacks
    def test_an_agent_target_names_a_backup_agent_that_reaches_the_snapshot(self):
        yield self.seed()
        yield self.created("/v1/agents", {"name": "spare-bot", "url": "wss://b.example/ws"})
        route = [{"type": "agent", "agent": "support-bot", "backup_agent": "spare-bot"},
                 {"type": "reject", "code": 486}]
        created = yield self.post("/v1/numbers", {"number": "+14155550100", "route": route})
        self.assertEqual(created.status, 201, created.json)
        self.assertEqual(created.json["route"], route)
        rows = self.database.run_sync(load_routing_rows)
        target = snapshot_from_rows(rows).numbers["+14155550100"].targets[0]
        self.assertEqual((target.name, target.backup_agent), ("support-bot", "spare-bot"))
        in_use = yield self.delete("/v1/agents/spare-bot")
        self.assertEqual(in_use.status, 409, in_use.json)
        unknown = yield self.put("/v1/numbers/+14155550100", {"route": [
            {"type": "agent", "agent": "support-bot", "backup_agent": "nobody"}]})
        self.assertEqual(unknown.status, 422, unknown.json)
        self.assertEqual(unknown.json["error"]["field"], "route.0.backup_agent")
        plain = yield self.put("/v1/numbers/+14155550100", {"route": [
            {"type": "agent", "agent": "support-bot"}]})
        self.assertEqual(plain.json["route"], [{"type": "agent", "agent": "support-bot"}])
        gone = yield self.delete("/v1/agents/spare-bot")
        self.assertEqual(gone.status, 204, gone.json)

    @defer.inlineCallbacks
    def test_outbound_routes(self):
        yield self.seed()
        yield self.created("/v1/trunks", {"name": "carrier-b"})
        created = yield self.post("/v1/routes", {"prefix": "1",
                                                 "trunks": ["carrier-a", "carrier-b"]})
        self.assertEqual(created.header("Location"), f"/v1/routes/{created.json['id']}")
        default = yield self.created("/v1/routes", {"prefix": "", "trunks": ["carrier-b"]})
        path = f"/v1/routes/{created.json['id']}"
        put = yield self.put(path, {"prefix": "+44", "trunks": ["carrier-b", "carrier-a"],
                                    "description": "UK"})
        self.assertEqual(put.json["trunks"], ["carrier-b", "carrier-a"])
        patched = yield self.http_patch(path, {"trunks": ["carrier-a"]})
        self.assertEqual((patched.json["prefix"], patched.json["trunks"]), ("44", ["carrier-a"]))
        listed = yield self.get("/v1/routes")
        self.assertEqual([r["prefix"] for r in listed.json["items"]], ["44", ""])
        gone = yield self.delete(f"/v1/routes/{default['id']}")
        self.assertEqual(gone.status, 204)

    @defer.inlineCallbacks
    def test_pagination_walks_every_item_once(self):
        for i in range(7):
            yield self.created("/v1/numbers", {"number": f"+4420794600{i:02d}",
                                               "route": [{"type": "reject", "code": 480}]})
        seen, after, pages = [], None, 0
        while True:
            query = "?limit=3" + (f"&after={after}" if after else "")
            page = yield self.get("/v1/numbers" + query)
            self.assertEqual(page.status, 200, page.json)
            seen += [n["number"] for n in page.json["items"]]
            pages += 1
            after = page.json["next"]
            if after is None:
                break
        self.assertEqual(pages, 3)
        self.assertEqual(seen, sorted(seen))
        self.assertEqual(len(set(seen)), 7)

    @defer.inlineCallbacks
    def test_registrations_lists_unexpired_bindings_only(self):
        import time

        from softswitch.store import registrations
        now = time.time()
        row = {"aor": "sip:alice@switch.test", "call_id": "c1", "cseq": 1, "node": "n1"}
        self.database.run_sync(registrations.upsert_bindings, [
            {**row, "contact": "sip:alice@192.0.2.1", "expires_at": now + 300},
            {**row, "contact": "sip:alice@192.0.2.2", "expires_at": now - 1},
        ])
        listed = yield self.get("/v1/registrations")
        self.assertEqual([r["contact"] for r in listed.json["items"]], ["sip:alice@192.0.2.1"])
        one = yield self.get(f"/v1/registrations/{listed.json['items'][0]['id']}")
        self.assertEqual(one.json["aor"], "sip:alice@switch.test")
        filtered = yield self.get("/v1/registrations?aor=sip:bob@switch.test")
        self.assertEqual(filtered.json["items"], [])

    @defer.inlineCallbacks
    def test_cdrs_filter_by_time_and_number(self):
        from softswitch.store import cdrs
        base = {"direction": "inbound", "attempts": 1, "final_code": 200}
        for i, did in enumerate(["+14155550100", "+14155550101", "+14155550100"]):
            self.database.run_sync(cdrs.insert_cdr, {
                **base, "call_id": f"call-{i}", "did": did, "caller": "+12125550199",
                "start_at": 1_700_000_000 + i * 3600, "answer_at": 1_700_000_005 + i * 3600,
                "end_at": 1_700_000_065 + i * 3600})
        listed = yield self.get("/v1/cdrs")
        self.assertEqual([c["call_id"] for c in listed.json["items"]],
                         ["call-2", "call-1", "call-0"])
        self.assertEqual(listed.json["items"][0]["duration"], 60.0)
        by_number = yield self.get("/v1/cdrs?number=%2B1%20415%20555%200100")
        self.assertEqual([c["call_id"] for c in by_number.json["items"]], ["call-2", "call-0"])
        by_caller = yield self.get("/v1/cdrs?number=12125550199&limit=1")
        self.assertEqual(len(by_caller.json["items"]), 1)
        self.assertIsNotNone(by_caller.json["next"])
        window = yield self.get("/v1/cdrs?from=2023-11-14T22:13:20Z&to=1700003601")
        self.assertEqual([c["call_id"] for c in window.json["items"]], ["call-1", "call-0"])
        one = yield self.get(f"/v1/cdrs/{listed.json['items'][0]['id']}")
        self.assertEqual(one.json["call_id"], "call-2")
        # Times are RFC 3339 in UTC (stored as epoch seconds).
        self.assertEqual((one.json["start_at"], one.json["answer_at"], one.json["end_at"],
                          one.json["ring_at"]),
                         ("2023-11-15T00:13:20.000Z", "2023-11-15T00:13:25.000Z",
                          "2023-11-15T00:14:25.000Z", None))

    @defer.inlineCallbacks
    def test_every_time_the_api_answers_is_rfc_3339_in_utc(self):
        yield self.seed()
        rfc3339 = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"
        for path in ("/v1/regions/eu", "/v1/trunks/carrier-a", "/v1/agents/support-bot",
                     "/v1/users/alice"):
            shown = yield self.get(path)
            for key in ("created_at", "updated_at"):
                self.assertRegex(shown.json[key], rfc3339)
        tokens = yield self.get("/v1/tokens")
        self.assertRegex(tokens.json["items"][0]["created_at"], rfc3339)
        document = yield self.get("/v1/openapi.json")
        schemas = document.json["components"]["schemas"]
        for model, key in (("CdrOut", "start_at"), ("TrunkOut", "created_at"),
                           ("TokenOut", "created_at")):
            self.assertEqual(schemas[model]["properties"][key]["format"], "date-time")

    @defer.inlineCallbacks
    def test_on_change_names_the_kind_after_each_write_only(self):
        yield self.seed()
        self.assertEqual(self.changes, ["regions", "trunks", "agents", "users"])
        del self.changes[:]
        yield self.get("/v1/trunks")
        yield self.post("/v1/numbers", {"number": "+14155550100", "route": []})  # 422
        self.assertEqual(self.changes, [])
        yield self.created("/v1/numbers", {"number": "+14155550100",
                                           "route": [{"type": "agent", "agent": "support-bot"}]})
        yield self.created("/v1/routes", {"prefix": "", "trunks": ["carrier-a"]})
        yield self.created("/v1/tokens", {"name": "ops"})
        self.assertEqual(self.changes, ["numbers", "routes", "tokens"])

    @defer.inlineCallbacks
    def test_metrics_label_by_route_pattern(self):
        yield self.seed()
        yield self.get("/v1/trunks/carrier-a")
        yield self.get("/v1/trunks/nope")
        yield self.get("/v1/nowhere")
        metrics = yield self.get("/metrics", token=None)
        text = metrics.raw.decode()
        self.assertIn('softswitch_api_requests_total{method="GET",route="/v1/trunks/{name}",'
                      'status="200"} 1.0', text)
        self.assertIn('route="/v1/trunks/{name}",status="404"} 1.0', text)
        self.assertIn('route="unmatched"', text)
        self.assertIn("softswitch_api_request_seconds_bucket", text)
        self.assertNotIn("carrier-a", text)
        json.loads((yield self.get("/healthz", token=None)).raw)
