"""softswitch-admin against the live API: main() runs in a thread, as a terminal would."""

import io
import json

from twisted.internet import defer, threads

from admin_harness import TOKEN, ApiTestCase
from softswitch.admin.cli import main
from softswitch.admin.cli_resources import UsageError, parse_gateway


class CliTests(ApiTestCase):
    @defer.inlineCallbacks
    def cli(self, *argv, token=TOKEN):
        out, err = io.StringIO(), io.StringIO()
        environ = {"SOFTSWITCH_URL": self.base}
        if token is not None:
            environ["SOFTSWITCH_ADMIN_TOKEN"] = token
        code = yield threads.deferToThread(main, list(argv), stdout=out, stderr=err,
                                           environ=environ)
        return code, out.getvalue(), err.getvalue()

    @defer.inlineCallbacks
    def test_an_operator_session(self):
        steps = [
            ("regions", "add", "eu", "--bind", "127.0.0.1", "--port-min", "20000",
             "--port-max", "20999"),
            ("trunks", "add", "humans", "--gateway", "sip.carrier.example:5061/tls@eu",
             "--gateway", "[2001:db8::5]", "--gateway", "sip.srv.example",
             "--allow", "192.0.2.0/24",
             "--auth-username", "acct", "--auth-password", "pw", "--register",
             "--stir-shaken", "sign"),
            ("agents", "add", "support-bot", "--url", "wss://agent.example/ws",
             "--secret-header", "Authorization=Bearer x", "--param", "lang=en"),
            ("users", "add", "alice", "--password", "alice-password"),
            ("numbers", "add", "+1 415 555 0100", "--agent", "support-bot",
             "--trunk", "humans", "--reject", "480"),
            ("routes", "create", "", "--trunk", "humans"),
        ]
        for argv in steps:
            code, out, err = yield self.cli(*argv)
            self.assertEqual((code, err), (0, ""), argv)
            json.loads(out)
        code, out, _ = yield self.cli("numbers", "list")
        header, row = out.splitlines()
        self.assertEqual(header.split(), ["NUMBER", "ROUTE", "ENABLED"])
        self.assertEqual(row.split("  "), ["+14155550100",
                                           "agent:support-bot > trunk:humans > reject:480",
                                           "yes"])
        code, out, _ = yield self.cli("trunks", "get", "humans")
        trunk = json.loads(out)
        self.assertEqual(trunk["stir_shaken"], "sign")
        self.assertEqual([(g["host"], g["port"], g["transport"], g["region"])
                          for g in trunk["gateways"]],
                         [("sip.carrier.example", 5061, "tls", "eu"),
                          ("2001:db8::5", 5060, "udp", None),
                          ("sip.srv.example", None, "udp", None)])
        code, out, _ = yield self.cli("trunks", "list")
        # No port: the name is looked up with SRV, and the listing says so by omission.
        self.assertIn("sip.carrier.example:5061/tls, [2001:db8::5]:5060/udp, "
                      "sip.srv.example/udp", out)
        self.assertEqual(trunk["auth"], {"username": "acct", "password_set": True})
        code, out, _ = yield self.cli("-o", "json", "trunks", "update", "humans",
                                      "--tls-client-cert", "/etc/softswitch/humans.pem",
                                      "--tls-client-key", "/etc/softswitch/humans.key")
        self.assertEqual((code, json.loads(out)["tls"]),
                         (0, {"client_certificate": "/etc/softswitch/humans.pem",
                              "client_key_set": True}))
        code, out, _ = yield self.cli("numbers", "get", "+14155550100", "-o", "json")
        self.assertEqual(json.loads(out)["number"], "+14155550100")
        code, out, _ = yield self.cli("-o", "json", "agents", "list")
        self.assertEqual(json.loads(out)[0]["secret_header_names"], ["Authorization"])
        code, out, _ = yield self.cli("-o", "json", "agents", "update", "support-bot",
                                      "--account-sid", "AC" + "ab" * 16,
                                      "--auth-token", "c" * 32,
                                      "--webhook-url", "https://bot.example/events")
        self.assertEqual((code, json.loads(out)["account_sid"], json.loads(out)["auth_token_set"]),
                         (0, "AC" + "ab" * 16, True))
        self.assertEqual(json.loads(out)["webhook_url"], "https://bot.example/events")
        code, out, _ = yield self.cli("users", "update", "alice", "--disable")
        self.assertFalse(json.loads(out)["enabled"])
        code, out, _ = yield self.cli("numbers", "delete", "+14155550100")
        self.assertEqual((code, out), (0, ""))

    @defer.inlineCallbacks
    def test_api_errors_print_the_message_and_field_and_exit_1(self):
        code, out, err = yield self.cli("numbers", "add", "+14155550100", "--agent", "ghost")
        self.assertEqual(code, 1)
        self.assertEqual(out, "")
        self.assertEqual(err, "softswitch-admin: agent 'ghost' does not exist "
                              "(field: route.0.agent) [HTTP 422]\n")
        code, _, err = yield self.cli("regions", "add", "x", "--bind", "127.0.0.1",
                                      "--port-min", "5", "--port-max", "70000")
        self.assertIn("port_max: Input should be less than or equal to 65535", err)
        code, _, err = yield self.cli("trunks", "list", token="wrong")
        self.assertEqual((code, err), (1, "softswitch-admin: invalid or revoked token "
                                          "[HTTP 401]\n"))

    @defer.inlineCallbacks
    def test_lists_follow_every_page_unless_limited(self):
        for i in range(3):
            yield self.created("/v1/numbers", {"number": f"+4930123456{i}",
                                               "route": [{"type": "reject", "code": 480}]})
        from softswitch.admin import cli as module
        self.patch(module.Client, "pages", _small_pages(module.Client.pages))
        code, out, _ = yield self.cli("-o", "json", "numbers", "list")
        self.assertEqual(len(json.loads(out)), 3)
        code, out, _ = yield self.cli("-o", "json", "numbers", "list", "--limit", "2")
        self.assertEqual(len(json.loads(out)), 2)

    @defer.inlineCallbacks
    def test_tokens_create_shows_the_token_once(self):
        code, out, _ = yield self.cli("tokens", "create", "ops")
        created = json.loads(out)
        code, out, _ = yield self.cli("trunks", "list", token=created["token"])
        self.assertEqual(code, 0)
        code, out, _ = yield self.cli("tokens", "list")
        header, *rows = out.splitlines()
        self.assertEqual(header.split(), ["ID", "NAME", "CREATED_AT", "REVOKED_AT"])
        # Times as the API gives them: RFC 3339 in UTC.
        self.assertRegex(rows[-1], r"^\d+ +ops +\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z +-$")
        code, out, _ = yield self.cli("tokens", "delete", str(created["id"]))
        self.assertEqual(code, 0)
        code, _, err = yield self.cli("trunks", "list", token=created["token"])
        self.assertEqual(code, 1)

    @defer.inlineCallbacks
    def test_an_unreachable_switch_is_one_line(self):
        out, err = io.StringIO(), io.StringIO()
        code = yield threads.deferToThread(
            main, ["--url", "http://127.0.0.1:9", "trunks", "list"], stdout=out, stderr=err,
            environ={})
        self.assertEqual(code, 1)
        self.assertTrue(err.getvalue().startswith("softswitch-admin: cannot reach "))


def _small_pages(pages):
    def wrapped(self, path, query, limit):
        if limit is None:  # one item per page, to walk the cursors
            query = dict(query)
            seen = []
            while True:
                page = self.call("GET", path, query={**query, "limit": 1})
                seen += page["items"]
                if not page["next"]:
                    return iter(seen)
                query["after"] = page["next"]
        return pages(self, path, query, limit)
    return wrapped


def test_gateway_flag_forms():
    assert parse_gateway("10.0.0.1") == {"host": "10.0.0.1"}
    assert parse_gateway("sip.example.com:5061/tls@eu") == {
        "host": "sip.example.com", "port": 5061, "transport": "tls", "region": "eu"}
    assert parse_gateway("[2001:db8::1]:5062/tcp") == {
        "host": "2001:db8::1", "port": 5062, "transport": "tcp"}
    try:
        parse_gateway("host:port")
    except UsageError as exc:
        assert "HOST[:PORT]" in exc.message
    else:
        raise AssertionError("a bad gateway was accepted")


class CallerIdCliTests(ApiTestCase):
    cli = CliTests.cli

    @defer.inlineCallbacks
    def test_caller_ids_sip_headers_and_trunk_identity_flags(self):
        yield self.seed()
        code, out, err = yield self.cli("users", "update", "alice", "--caller-id",
                                        "+14155550150", "--caller-id", "+14155550151")
        self.assertEqual((code, err), (0, ""))
        self.assertEqual(json.loads(out)["caller_ids"], ["+14155550150", "+14155550151"])
        code, out, err = yield self.cli("agents", "update", "support-bot", "--caller-id",
                                        "+14155550160", "--sip-header", "X-Customer-Id",
                                        "--sip-header", "User-to-User")
        agent = json.loads(out)
        self.assertEqual((agent["caller_ids"], agent["sip_headers"]),
                         (["+14155550160"], ["X-Customer-Id", "User-to-User"]))
        code, out, err = yield self.cli("trunks", "update", "carrier-a", "--untrusted",
                                        "--hide-topology", "--default-caller-id",
                                        "+14155550000")
        trunk = json.loads(out)
        self.assertEqual((trunk["trust_identity"], trunk["topology_hiding"],
                          trunk["default_caller_id"]), (False, True, "+14155550000"))
        code, out, err = yield self.cli("agents", "update", "support-bot",
                                        "--sip-header", "Via")
        self.assertEqual(code, 1)
        self.assertIn("sip_headers", err)
