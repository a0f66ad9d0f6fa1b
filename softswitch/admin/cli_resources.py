"""What softswitch-admin knows of each resource: flags, key, table columns."""

import argparse
import re
from dataclasses import dataclass, field
from typing import Callable


class UsageError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _pairs(values: list[str] | None, flag: str) -> dict:
    pairs = {}
    for value in values or ():
        name, sep, text = value.partition("=")
        if not sep or not name:
            raise UsageError(f"{flag} takes NAME=VALUE, not {value!r}")
        pairs[name] = text
    return pairs


_GATEWAY = re.compile(
    r"^(?P<host>\[[^\]]+\]|[^:/@\[\]]+)(?::(?P<port>\d+))?(?:/(?P<transport>udp|tcp|tls))?"
    r"(?:@(?P<region>[^@]+))?$")


def parse_gateway(text: str) -> dict:
    """'sip.example.com:5061/tls@eu' -> {"host", "port", "transport", "region"}."""
    match = _GATEWAY.match(text)
    if match is None:
        raise UsageError(f"--gateway takes HOST[:PORT][/udp|tcp|tls][@REGION], not {text!r}")
    gateway = {"host": match["host"].strip("[]")}
    if match["port"]:
        gateway["port"] = int(match["port"])
    for key in ("transport", "region"):
        if match[key]:
            gateway[key] = match[key]
    return gateway


def _gateway_text(gateway: dict) -> str:
    """The --gateway spelling back; no port is a name looked up with SRV."""
    host = gateway["host"]
    if gateway["port"] is None:
        return f"{host}/{gateway['transport']}"
    host = f"[{host}]" if ":" in host else host
    return f"{host}:{gateway['port']}/{gateway['transport']}"


class _Target(argparse.Action):
    """--agent/--user/--trunk/--reject append to one ordered route."""

    def __call__(self, parser, namespace, value, option_string=None):
        kind = self.const
        route = getattr(namespace, self.dest) or []
        if kind == "reject":
            route.append({"type": "reject", "code": int(value)})
        else:
            route.append({"type": kind, kind: value})
        setattr(namespace, self.dest, route)


class _WithParents:
    """Adds the same parent parser to every action parser."""

    def __init__(self, actions, parent):
        self._actions = actions
        self._parent = parent

    def add_parser(self, name, **options):
        return self._actions.add_parser(name, parents=[self._parent], **options)


@dataclass
class Flag:
    names: tuple[str, ...]
    key: str | None  # the body field it sets; None when ``build`` does it
    options: dict = field(default_factory=dict)

    @property
    def dest(self) -> str:
        return self.options.get("dest") or self.key or self.names[0][2:].replace("-", "_")

    def add_to(self, parser) -> None:
        options = {k: v for k, v in self.options.items() if k != "dest"}
        parser.add_argument(*self.names, dest=self.dest, **options)


@dataclass
class Resource:
    name: str
    key_name: str
    columns: dict[str, Callable[[dict], object]]
    flags: list[Flag] = field(default_factory=list)
    build: Callable[[argparse.Namespace, dict], None] | None = None
    filters: list[Flag] = field(default_factory=list)
    writable: bool = True
    create_only: bool = False  # tokens: create and revoke, nothing else
    create_key: str | None = None  # the body field the key of "add" fills
    hang_up: bool = False  # calls: list, get and hangup (DELETE), nothing else

    def add_to(self, subparsers) -> None:
        parser = subparsers.add_parser(self.name, help=f"manage {self.name}")
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        # -o also after the action; SUPPRESS keeps the global one when absent.
        common = argparse.ArgumentParser(add_help=False)
        common.add_argument("-o", "--output", choices=("table", "json"),
                            default=argparse.SUPPRESS, help="how lists are printed")
        actions = _WithParents(actions, common)
        listing = actions.add_parser("list", help=f"list {self.name}")
        listing.add_argument("--limit", type=int, help="one page of at most this many")
        for flag in self.filters:
            flag.add_to(listing)
        actions.add_parser("get", help="show one").add_argument(
            "key", metavar=self.key_name.upper())
        if self.hang_up:
            actions.add_parser("hangup", help="hang up an answered call").add_argument(
                "key", metavar=self.key_name.upper())
        if not self.writable:
            return
        actions.add_parser("delete", help="delete one").add_argument(
            "key", metavar=self.key_name.upper())
        verbs = (("create", "add"),) if self.create_only else (("add", "create"),)
        if not self.create_only:
            verbs += (("update", None),)
        for verb, alias in verbs:
            sub = actions.add_parser(verb, aliases=[alias] if alias else [],
                                     help=f"{verb} one (flags or --json BODY)")
            key_name = self.key_name if verb == "update" else (self.create_key or self.key_name)
            sub.add_argument("key", metavar=key_name.upper())
            sub.add_argument("--json", help="the JSON body (merged under the flags)")
            for flag in self.flags:
                flag.add_to(sub)

    def list_query(self, args) -> dict:
        return {flag.names[0][2:]: getattr(args, flag.dest) for flag in self.filters}

    def body_from_flags(self, args) -> dict:
        body = {}
        for flag in self.flags:
            value = getattr(args, flag.dest, None)
            if flag.key is not None and value is not None:
                body[flag.key] = value
        if self.build is not None:
            self.build(args, body)
        return body

    def put_key(self, body: dict, key: str) -> None:
        body[self.create_key or self.key_name] = key

    def table(self, rows: list[dict]) -> str:
        headers = list(self.columns)
        cells = [[_cell(get(row)) for get in self.columns.values()] for row in rows]
        widths = [max([len(h)] + [len(c[i]) for c in cells]) for i, h in enumerate(headers)]
        lines = ["  ".join(h.upper().ljust(w) for h, w in zip(headers, widths)).rstrip()]
        for row in cells:
            lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip())
        return "\n".join(lines) + "\n"


def _time(value) -> str | None:
    """The API's RFC 3339 time (UTC), shown as it is."""
    return value


def _cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _enabled_flags() -> list[Flag]:
    return [Flag(("--disable",), None, {"action": "store_true", "help": "disabled"}),
            Flag(("--enable",), None, {"action": "store_true", "help": "enabled"})]


def _enabled(args, body: dict) -> None:
    if getattr(args, "disable", False):
        body["enabled"] = False
    if getattr(args, "enable", False):
        body["enabled"] = True


def _build_trunk(args, body: dict) -> None:
    if args.gateway:
        body["gateways"] = [parse_gateway(text) for text in args.gateway]
    if args.allow:
        body["inbound"] = {"allowed_sources": args.allow}
    if args.auth_username or args.auth_password:
        body["auth"] = {"username": args.auth_username, "password": args.auth_password}
    if args.register:
        body["register"] = True
    if args.tls_client_cert or args.tls_client_key:
        body["tls"] = {"client_certificate": args.tls_client_cert,
                       "client_key": args.tls_client_key}
    for flag, key, value in (("untrusted", "trust_identity", False),
                             ("trusted", "trust_identity", True),
                             ("hide_topology", "topology_hiding", True),
                             ("show_topology", "topology_hiding", False)):
        if getattr(args, flag, False):
            body[key] = value
    _enabled(args, body)


def _build_agent(args, body: dict) -> None:
    for flag, key in (("header", "headers"), ("secret_header", "secret_headers"),
                      ("param", "custom_parameters")):
        values = getattr(args, flag)
        if values:
            body[key] = _pairs(values, "--" + flag.replace("_", "-"))


def _build_number(args, body: dict) -> None:
    if args.route:
        body["route"] = args.route
    _enabled(args, body)


def _route_text(route: list[dict]) -> str:
    return " > ".join(
        f"reject:{t['code']}" if t["type"] == "reject" else f"{t['type']}:{t[t['type']]}"
        for t in route)


def _caller_ids_flag() -> Flag:
    return Flag(("--caller-id",), "caller_ids",
                {"action": "append", "help": "E.164 number it may present toward trunks "
                                             "(the first is the default), repeatable"})


def _many(flag: str, help_text: str, **options) -> Flag:
    return Flag((flag,), None, {"action": "append", "help": help_text, **options})


RESOURCES = {r.name: r for r in [
    Resource("users", "username", {
        "username": lambda r: r["username"], "display_name": lambda r: r["display_name"],
        "enabled": lambda r: r["enabled"]},
        flags=[Flag(("--password",), "password"),
               Flag(("--display-name",), "display_name"), _caller_ids_flag(),
               *_enabled_flags()],
        build=_enabled),
    Resource("regions", "name", {
        "name": lambda r: r["name"], "bind": lambda r: r["bind"],
        "advertise": lambda r: r["advertise"],
        "ports": lambda r: f"{r['port_min']}-{r['port_max']}"},
        flags=[Flag(("--bind",), "bind"), Flag(("--advertise",), "advertise"),
               Flag(("--port-min",), "port_min", {"type": int}),
               Flag(("--port-max",), "port_max", {"type": int})]),
    Resource("trunks", "name", {
        "name": lambda r: r["name"],
        "gateways": lambda r: ", ".join(map(_gateway_text, r["gateways"])) or None,
        "register": lambda r: r["register"], "enabled": lambda r: r["enabled"]},
        flags=[_many("--gateway", "HOST[:PORT][/udp|tcp|tls][@REGION], repeatable; a host "
                                  "name without PORT is looked up with DNS SRV"),
               _many("--allow", "network (any port) or ADDRESS:PORT calls may come from, "
                                "repeatable"),
               Flag(("--auth-username",), None), Flag(("--auth-password",), None),
               Flag(("--register",), None, {"action": "store_true"}),
               Flag(("--tls-client-cert",), None,
                    {"help": "client certificate for tls gateways (mutual TLS): a PEM "
                             "file's absolute path on the switch"}),
               Flag(("--tls-client-key",), None, {"help": "its private key's path"}),
               Flag(("--max-concurrent",), "max_concurrent", {"type": int}),
               Flag(("--max-cps",), "max_cps", {"type": float}),
               Flag(("--number-format",), "number_format"),
               Flag(("--stir-shaken",), "stir_shaken",
                    {"choices": ("sign", "off"), "help": "sign: STIR/SHAKEN Identity on "
                                                         "calls to it; off: the carrier signs"}),
               Flag(("--default-caller-id",), "default_caller_id",
                    {"help": "E.164 number callers without a caller ID present"}),
               Flag(("--untrusted",), None, {"action": "store_true",
                                             "help": "its identity headers are not "
                                                     "believed (trust_identity false)"}),
               Flag(("--trusted",), None, {"action": "store_true"}),
               Flag(("--hide-topology",), None, {"action": "store_true",
                                                 "help": "topology_hiding"}),
               Flag(("--show-topology",), None, {"action": "store_true"}),
               *_enabled_flags()],
        build=_build_trunk),
    Resource("agents", "name", {
        "name": lambda r: r["name"], "profile": lambda r: r["profile"],
        "rate": lambda r: r["sample_rate"], "region": lambda r: r["region"],
        "url": lambda r: r["url"]},
        flags=[Flag(("--url",), "url", {"dest": "agent_url", "help": "ws:// or wss:// URL"}),
               Flag(("--profile",), "profile"),
               Flag(("--sample-rate",), "sample_rate", {"type": int}),
               Flag(("--region",), "region"),
               _many("--header", "NAME=VALUE, repeatable"),
               _many("--secret-header", "NAME=VALUE, write-only, repeatable"),
               _many("--param", "custom parameter NAME=VALUE, repeatable"),
               Flag(("--account-sid",), "account_sid", {"help": "Twilio compatibility"}),
               Flag(("--auth-token",), "auth_token", {"help": "Twilio compatibility, "
                                                              "write-only"}),
               Flag(("--webhook-url",), "webhook_url",
                    {"help": "http(s):// URL its call events are also sent to"}),
               _caller_ids_flag(),
               Flag(("--sip-header",), "sip_headers",
                    {"action": "append", "help": "NAME of an INVITE header passed to the "
                                                 "agent at start, repeatable"})],
        build=_build_agent),
    Resource("numbers", "number", {
        "number": lambda r: r["number"], "route": lambda r: _route_text(r["route"]),
        "enabled": lambda r: r["enabled"]},
        flags=[*(Flag((f"--{kind}",), None, {"action": _Target, "const": kind, "dest": "route",
                                             "help": f"route to this {kind} (in order)"})
                 for kind in ("agent", "user", "trunk", "reject")),
               Flag(("--description",), "description"), *_enabled_flags()],
        build=_build_number),
    Resource("routes", "id", {
        "id": lambda r: r["id"], "prefix": lambda r: repr(r["prefix"]),
        "trunks": lambda r: " > ".join(r["trunks"]),
        "description": lambda r: r["description"]},
        flags=[Flag(("--trunk",), "trunks", {"action": "append", "help": "tried in order"}),
               Flag(("--description",), "description")],
        create_key="prefix"),
    Resource("tokens", "id", {
        "id": lambda r: r["id"], "name": lambda r: r["name"],
        "created_at": lambda r: _time(r["created_at"]), "revoked_at": lambda r: _time(r["revoked_at"])},
        create_only=True, create_key="name"),
    Resource("registrations", "id", {
        "aor": lambda r: r["aor"], "contact": lambda r: r["contact"],
        "expires_at": lambda r: _time(r["expires_at"]), "node": lambda r: r["node"]},
        filters=[Flag(("--aor",), "aor")], writable=False),
    Resource("cdrs", "id", {
        "id": lambda r: r["id"], "start_at": lambda r: _time(r["start_at"]),
        "direction": lambda r: r["direction"], "caller": lambda r: r["caller"],
        "callee": lambda r: r["callee"], "code": lambda r: r["final_code"],
        "duration": lambda r: r["duration"]},
        filters=[Flag(("--from",), "since", {"help": "RFC 3339 time (or epoch seconds)"}),
                 Flag(("--to",), "until", {"help": "RFC 3339 time (or epoch seconds)"}),
                 Flag(("--number",), "number")], writable=False),
    Resource("calls", "call_id", {
        "call_id": lambda r: r["call_id"], "state": lambda r: r["state"],
        "direction": lambda r: r["direction"], "caller": lambda r: r["caller"],
        "callee": lambda r: r["callee"], "trunk": lambda r: r["trunk"],
        "duration": lambda r: f"{r['duration']:.0f}s"},
        writable=False, hang_up=True),
]}
