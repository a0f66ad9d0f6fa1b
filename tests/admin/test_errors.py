"""Each class of client mistake gets its status, a message and the field at
fault; nothing is ever half written; an unexpected error is a generic 500."""

import sqlalchemy as sa
from twisted.internet import defer

from admin_harness import ApiTestCase
from softswitch.store.tables import gateways, trunks


class ErrorTests(ApiTestCase):
    @defer.inlineCallbacks
    def assertError(self, response, status, field=None, contains=""):
        response = yield response
        self.assertEqual(response.status, status, response.json)
        self.assertEqual(response.header("Content-Type"), "application/json")
        self.assertEqual(response.error["status"], status)
        self.assertEqual(response.error.get("field"), field)
        self.assertIn(contains, response.error["message"])
        self.assertNotIn("Traceback", response.raw.decode())
        return response

    @defer.inlineCallbacks
    def test_malformed_json_is_400(self):
        for raw in (b"{bad", b'{"name": "x",}', b"\xff\xfe", b"", b"   "):
            yield self.assertError(self.request("POST", "/v1/regions", raw=raw), 400)

    @defer.inlineCallbacks
    def test_a_body_that_is_not_an_object_is_422(self):
        yield self.assertError(self.request("POST", "/v1/regions", raw=b"[1]"), 422)

    @defer.inlineCallbacks
    def test_wrong_types_name_the_field(self):
        yield self.assertError(self.post("/v1/regions", {
            "name": "eu", "bind": "127.0.0.1", "port_min": "20000", "port_max": 30000}),
            422, "port_min", "valid integer")
        yield self.assertError(self.post("/v1/trunks", {
            "name": "t", "gateways": [{"host": "192.0.2.1", "port": 5060.5}]}),
            422, "gateways.0.port")
        yield self.assertError(self.post("/v1/users", {
            "username": "bob", "password": "long-enough", "enabled": "yes"}), 422, "enabled")

    @defer.inlineCallbacks
    def test_unknown_fields_are_refused_by_name(self):
        yield self.assertError(self.post("/v1/users", {
            "username": "bob", "password": "long-enough", "pasword": "x"}),
            422, "pasword", "unknown field")
        yield self.assertError(self.post("/v1/trunks", {
            "name": "t", "gateways": [{"host": "192.0.2.1", "zone": "a"}]}),
            422, "gateways.0.zone")
        yield self.assertError(self.post("/v1/trunks", {"name": "t", "register_": True}),
                               422, None, "register_")

    @defer.inlineCallbacks
    def test_out_of_range_values(self):
        cases = [
            ("/v1/trunks", {"name": "t", "gateways": [{"host": "192.0.2.1", "port": 70000}]},
             "gateways.0.port"),
            ("/v1/regions", {"name": "r", "bind": "127.0.0.1", "port_min": 3000,
                             "port_max": 2000}, "port_max"),
            ("/v1/regions", {"name": "r", "bind": "not-an-ip", "port_min": 1, "port_max": 2},
             "bind"),
            ("/v1/regions", {"name": "Bad Name", "bind": "127.0.0.1", "port_min": 1,
                             "port_max": 2}, "name"),
            ("/v1/trunks", {"name": "t", "inbound": {"allowed_sources": ["10.0.0.1/24"]}},
             "inbound.allowed_sources.0"),
            ("/v1/trunks", {"name": "t", "inbound": {"allowed_sources": ["10.0.0.0/24:5060"]}},
             "inbound.allowed_sources.0"),
            ("/v1/trunks", {"name": "t", "inbound": {"allowed_sources": ["10.0.0.1:0"]}},
             "inbound.allowed_sources.0"),
            ("/v1/trunks", {"name": "t", "register": True}, "register"),
            ("/v1/trunks", {"name": "t", "max_cps": 0}, "max_cps"),
            ("/v1/agents", {"name": "a", "url": "https://agent.example/ws"}, "url"),
            ("/v1/agents", {"name": "a", "url": "wss://u:p@agent.example/ws"}, "url"),
            ("/v1/agents", {"name": "a", "url": "wss://a.example", "profile": "sip"}, "profile"),
            ("/v1/agents", {"name": "a", "url": "wss://a.example", "sample_rate": 44100},
             "sample_rate"),
            ("/v1/agents", {"name": "a", "url": "wss://a.example", "profile": "twilio",
                            "sample_rate": 16000}, "sample_rate"),
            ("/v1/agents", {"name": "a", "url": "wss://a.example",
                            "profile": "openai-realtime", "sample_rate": 24000},
             "sample_rate"),
            ("/v1/numbers", {"number": "+14155550100", "route": [{"type": "reject",
                                                                  "code": 302}]},
             "route.0.code"),
            ("/v1/numbers", {"number": "+14155550100", "route": [
                {"type": "reject", "code": 486}, {"type": "reject", "code": 480}]}, "route"),
            ("/v1/numbers", {"number": "+14155550100", "route": [{"type": "fax"}]}, "route.0"),
            ("/v1/numbers", {"number": "4155550100", "route": [{"type": "reject",
                                                                "code": 486}]}, "number"),
            ("/v1/routes", {"prefix": "1x", "trunks": ["t"]}, "prefix"),
            ("/v1/routes", {"prefix": "1", "trunks": ["t", "t"]}, "trunks"),
        ]
        for path, body, field in cases:
            yield self.assertError(self.post(path, body), 422, field)

    @defer.inlineCallbacks
    def test_openai_realtime_session_parameters_are_checked(self):
        realtime = {"name": "a", "url": "wss://a.example", "profile": "openai-realtime"}
        for parameters, field, message in (
                ({"voice": "no such voice"}, "custom_parameters.voice", "a voice name"),
                ({"voice": ""}, "custom_parameters.voice", "a voice name"),
                ({"voice": 7}, "custom_parameters.voice", "valid string"),
                ({"instructions": ["Be", "brief"]}, "custom_parameters.instructions",
                 "valid string"),
                ({"instructions": "x" * 16385}, "custom_parameters.instructions", "16384"),
                ({"tier": "x" * 1025}, "custom_parameters.tier", "at most 1024")):
            yield self.assertError(self.post("/v1/agents", {
                **realtime, "custom_parameters": parameters}), 422, field, message)
        # A long system prompt is an openai-realtime agent's only.
        yield self.assertError(self.post("/v1/agents", {
            **realtime, "profile": "twilio", "custom_parameters": {"instructions": "x" * 1025}}),
            422, "custom_parameters.instructions", "at most 1024")
        created = yield self.post("/v1/agents", {**realtime, "custom_parameters": {
            "instructions": "x" * 16384, "voice": "marin"}})
        self.assertEqual(created.status, 201, created.json)
        yield self.assertError(self.http_patch("/v1/agents/a", {"profile": "twilio"}), 422,
                               "custom_parameters.instructions", "at most 1024")

    @defer.inlineCallbacks
    def test_an_openai_realtime_voice_may_be_a_custom_voice_object(self):
        realtime = {"name": "v", "url": "wss://a.example", "profile": "openai-realtime"}
        created = yield self.post("/v1/agents", {**realtime, "custom_parameters": {
            "voice": {"id": "voice_1234"}}})
        self.assertEqual(created.status, 201, created.json)
        self.assertEqual(created.json["custom_parameters"], {"voice": {"id": "voice_1234"}})
        patched = yield self.http_patch("/v1/agents/v", {"headers": {"X-A": "1"}})
        self.assertEqual(patched.json["custom_parameters"], {"voice": {"id": "voice_1234"}})
        for profile, voice, message in (
                ("openai-realtime", {"id": "voice 1"}, "custom voice's id"),
                ("openai-realtime", {"id": "v", "name": "x"}, "valid string"),
                ("openai-realtime", {"name": "v"}, "valid string"),
                ("twilio", {"id": "voice_1234"}, "only an openai-realtime agent's voice")):
            yield self.assertError(self.post("/v1/agents", {
                **realtime, "name": "w", "profile": profile,
                "custom_parameters": {"voice": voice}}), 422, "custom_parameters.voice", message)
        yield self.assertError(self.post("/v1/agents", {
            **realtime, "name": "w", "custom_parameters": {"mood": {"id": "voice_1"}}}),
            422, "custom_parameters.mood", "only an openai-realtime agent's voice")

    @defer.inlineCallbacks
    def test_nan_is_refused(self):
        yield self.assertError(self.request("POST", "/v1/trunks",
                                            raw=b'{"name": "t", "max_cps": NaN}'), 422, "max_cps")

    @defer.inlineCallbacks
    def test_a_missing_reference_names_the_field(self):
        yield self.seed()
        response = yield self.assertError(self.post("/v1/numbers", {
            "number": "+14155550100",
            "route": [{"type": "agent", "agent": "support-bot"},
                      {"type": "user", "user": "nobody"}]}), 422, "route.1.user")
        self.assertIn("'nobody' does not exist", response.error["message"])
        yield self.assertError(self.post("/v1/numbers", {
            "number": "+14155550100", "route": [{"type": "agent", "agent": "ghost"}]}),
            422, "route.0.agent")
        yield self.assertError(self.post("/v1/agents", {
            "name": "b", "url": "wss://a.example", "region": "mars"}), 422, "region")
        yield self.assertError(self.post("/v1/routes", {
            "prefix": "1", "trunks": ["carrier-a", "ghost"]}), 422, "trunks.1")

    @defer.inlineCallbacks
    def test_nothing_half_written(self):
        yield self.seed()
        yield self.assertError(self.post("/v1/trunks", {
            "name": "carrier-b",
            "gateways": [{"host": "192.0.2.20", "region": "eu"},
                         {"host": "192.0.2.21", "region": "mars"}]}),
            422, "gateways.1.region")
        count = self.database.run_sync(lambda conn: (
            conn.execute(sa.select(sa.func.count()).select_from(trunks)).scalar_one(),
            conn.execute(sa.select(sa.func.count()).select_from(gateways)).scalar_one()))
        self.assertEqual(count, (1, 1))  # carrier-a and its one gateway only
        # A failed PUT leaves the old gateways in place.
        yield self.assertError(self.put("/v1/trunks/carrier-a", {
            "gateways": [{"host": "192.0.2.30", "region": "mars"}]}), 422, "gateways.0.region")
        got = yield self.get("/v1/trunks/carrier-a")
        self.assertEqual([g["host"] for g in got.json["gateways"]], ["192.0.2.10"])
        self.assertEqual(got.json["auth"]["password_set"], True)

    @defer.inlineCallbacks
    def test_duplicates_are_409(self):
        yield self.seed()
        yield self.assertError(self.post("/v1/regions", {
            "name": "eu", "bind": "127.0.0.1", "port_min": 1, "port_max": 2}),
            409, "name", "region 'eu' already exists")
        yield self.assertError(self.post("/v1/users", {
            "username": "alice", "password": "whatever-pass"}), 409, "username")
        yield self.created("/v1/numbers", {"number": "+14155550100",
                                           "route": [{"type": "reject", "code": 486}]})
        yield self.assertError(self.post("/v1/numbers", {
            "number": "00 1 415 555 0100", "route": [{"type": "reject", "code": 486}]}),
            409, "number")
        first = yield self.created("/v1/routes", {"prefix": "1", "trunks": ["carrier-a"]})
        yield self.assertError(self.post("/v1/routes", {"prefix": "+1",
                                                        "trunks": ["carrier-a"]}),
                               409, "prefix", f"(id {first['id']})")

    @defer.inlineCallbacks
    def test_deleting_what_is_still_used_is_409_naming_the_user(self):
        yield self.seed()
        yield self.created("/v1/numbers", {"number": "+14155550100", "route": [
            {"type": "agent", "agent": "support-bot"}, {"type": "user", "user": "alice"},
            {"type": "trunk", "trunk": "carrier-a"}]})
        yield self.created("/v1/routes", {"prefix": "44", "trunks": ["carrier-a"]})
        yield self.assertError(self.delete("/v1/agents/support-bot"), 409, None,
                               "agent 'support-bot' is still used by the route of +14155550100")
        yield self.assertError(self.delete("/v1/users/alice"), 409, None,
                               "the route of +14155550100")
        yield self.assertError(self.delete("/v1/trunks/carrier-a"), 409, None,
                               "the outbound route for prefix '44'")
        yield self.assertError(self.delete("/v1/regions/eu"), 409, None,
                               "trunk 'carrier-a', agent 'support-bot'")
        agent = yield self.get("/v1/agents/support-bot")
        self.assertEqual(agent.status, 200)

    @defer.inlineCallbacks
    def test_not_found(self):
        for path in ("/v1/regions/none", "/v1/trunks/none", "/v1/agents/none",
                     "/v1/users/none", "/v1/numbers/+14155550199", "/v1/routes/99",
                     "/v1/tokens/99", "/v1/registrations/99", "/v1/cdrs/99",
                     "/v1/numbers/not-a-number", "/v1/routes/abc", "/v1/trunks/UPPER",
                     "/v1/unknown", "/v1", "/v1/trunks/a/b"):
            yield self.assertError(self.get(path), 404)
        yield self.assertError(self.http_patch("/v1/trunks/none", {"max_cps": 1}), 404)
        yield self.assertError(self.delete("/v1/numbers/%2B14155550199"), 404)

    @defer.inlineCallbacks
    def test_wrong_method_is_405_with_allow(self):
        response = yield self.assertError(self.post("/v1/cdrs", {}), 405)
        self.assertEqual(response.header("Allow"), "GET")
        response = yield self.assertError(self.put("/v1/tokens/1", {"name": "x"}), 405)
        self.assertEqual(response.header("Allow"), "DELETE, GET")
        yield self.assertError(self.delete("/v1/trunks"), 405)

    @defer.inlineCallbacks
    def test_renaming_through_put_is_refused(self):
        yield self.seed()
        yield self.assertError(self.put("/v1/regions/eu", {
            "name": "us", "bind": "127.0.0.1", "port_min": 1, "port_max": 2}), 422, "name")

    @defer.inlineCallbacks
    def test_a_patch_is_checked_with_the_stored_fields(self):
        yield self.seed()
        yield self.assertError(self.http_patch("/v1/regions/eu", {"port_max": 10}), 422, "port_max")
        yield self.assertError(self.http_patch("/v1/regions/eu", {"bind": None}), 422, "bind")
        yield self.assertError(self.http_patch("/v1/trunks/carrier-a", {"auth": None,
                                                                   "register": True}),
                               422, "register")

    @defer.inlineCallbacks
    def test_query_mistakes(self):
        yield self.assertError(self.get("/v1/trunks?limit=0"), 422, "limit")
        yield self.assertError(self.get("/v1/trunks?limit=1001"), 422, "limit")
        yield self.assertError(self.get("/v1/trunks?limit=ten"), 422, "limit")
        yield self.assertError(self.get("/v1/trunks?after=a%01b"), 422, "after")
        for cursor in ("InRleHQi", "-1", "1.5", "+7", "1_0", "%2017"):
            yield self.assertError(self.get(f"/v1/routes?after={cursor}"), 422, "after")
        yield self.assertError(self.get("/v1/trunks?sort=name"), 422, "sort")
        yield self.assertError(self.get("/v1/trunks/x?verbose=1"), 422, "verbose")
        yield self.assertError(self.get("/v1/cdrs?from=yesterday"), 422, "from")

    @defer.inlineCallbacks
    def test_a_body_too_large_is_413(self):
        big = b'{"name": "' + b"a" * 1_100_000 + b'"}'
        yield self.assertError(self.request("POST", "/v1/tokens", raw=big), 413)

    @defer.inlineCallbacks
    def test_an_unexpected_exception_is_a_generic_500_and_logged(self):
        def broken(conn, *args):
            raise RuntimeError("secret internals")
        from softswitch.store import regions
        original = regions.list_regions
        regions.list_regions = broken
        self.addCleanup(setattr, regions, "list_regions", original)
        response = yield self.assertError(self.get("/v1/regions"), 500)
        self.assertNotIn("secret internals", response.raw.decode())
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
