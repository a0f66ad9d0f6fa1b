"""The demo number: a newcomer registers a softphone, dials `[agents] echo_number` and
hears themself half a second later, before writing an agent.

At start-up (before the first routing snapshot is read) the switch makes sure, in one
transaction, that the database holds an agent named "echo" — the built-in echo agent
(`edge/agent/echo.py`, Twilio profile) at ws://<admin listener>/v1/echo-agent — and the
number, routed to it. It is idempotent, and it leaves the operator's choices alone:

- no "echo" agent: it is created; one made by an earlier start (its URL's path is
  /v1/echo-agent, or /echo-agent where earlier versions served it and still do) is
  kept while it points at the admin listener, and follows it to /v1/echo-agent if
  the listener moved;
- an "echo" agent the operator made for something else (another URL): kept, and the
  number is not set up (a warning says so);
- the number exists already: kept with whatever route it has.

Failures are logged and never stop the switch: the demo is a convenience.
"""

from urllib.parse import urlsplit

from sqlalchemy.exc import SQLAlchemyError
from twisted.logger import Logger

from ...store import agents, numbers

log = Logger()

ECHO_AGENT = "echo"
ECHO_PATH = "/v1/echo-agent"
LEGACY_ECHO_PATH = "/echo-agent"  # where agents made by earlier versions point
DESCRIPTION = "Demo: the built-in echo agent ([agents] echo_number)"
_WILDCARDS = {"0.0.0.0": "127.0.0.1", "::": "::1"}  # listening everywhere: use loopback
_SCHEMES = {"tcp": "ws", "tcp6": "ws", "ssl": "wss"}


def echo_agent_url(admin_listen: str) -> str | None:
    """The echo agent's URL on the admin listener, from its strports description
    ("tcp:8080:interface=127.0.0.1" -> "ws://127.0.0.1:8080/v1/echo-agent"); a wildcard
    interface is reached on loopback. None when it cannot be told (a UNIX socket, port 0)."""
    kind, *fields = _split_description(admin_listen)
    scheme = _SCHEMES.get(kind.lower())
    if scheme is None:
        return None
    positional = [f for f in fields if "=" not in f]
    options = dict(f.split("=", 1) for f in fields if "=" in f)
    port = options.get("port") or (positional[0] if positional else "")
    if not port.isdigit() or int(port) == 0:
        return None
    host = options.get("interface") or ("::" if kind.lower() == "tcp6" else "0.0.0.0")
    host = _WILDCARDS.get(host, host)
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{int(port)}{ECHO_PATH}"


def _split_description(description: str) -> list[str]:
    """strports fields: ':' separates, a backslash escapes the next character."""
    fields, current, escaped = [], [], False
    for char in description:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ":":
            fields.append("".join(current))
            current = []
        else:
            current.append(char)
    fields.append("".join(current))
    return fields


def ensure_echo_number(conn, number: str, url: str) -> str:
    """Make sure the echo agent at `url` and `number` routed to it exist (one
    transaction: `conn`); returns what was done, for the log."""
    agent = agents.get_agent(conn, ECHO_AGENT)
    done = []
    if agent is None:
        agent = agents.create_agent(conn, {
            "name": ECHO_AGENT, "url": url, "profile": "twilio", "sample_rate": 8000,
            "region_id": None, "headers": {}, "secret_headers": {},
            "custom_parameters": {}})
        done.append(f"agent {ECHO_AGENT} created at {url}")
    elif agent["url"] not in (url, _legacy(url)):
        if urlsplit(agent["url"]).path not in (ECHO_PATH, LEGACY_ECHO_PATH) \
                or agent["profile"] != "twilio":
            return (f"an agent named {ECHO_AGENT} already exists at {agent['url']} "
                    f"({agent['profile']}): the demo number {number} is not set up")
        agents.update_agent(conn, ECHO_AGENT, {"url": url})
        done.append(f"agent {ECHO_AGENT} moved to {url}")
    existing = numbers.get_number(conn, number)
    if existing is None:
        numbers.create_number(conn, {"number": number, "description": DESCRIPTION,
                                     "enabled": True},
                              [{"kind": "agent", "agent_id": agent["id"]}])
        done.append(f"{number} routed to it")
    elif existing["route"] != [{"type": "agent", "agent": ECHO_AGENT}]:
        done.append(f"{number} exists with another route, kept")
    return "; ".join(done) or f"{number} -> agent {ECHO_AGENT} at {agent['url']}"


def _legacy(url: str) -> str:
    """The same listener's echo agent at the path earlier versions used."""
    return url[:-len(ECHO_PATH)] + LEGACY_ECHO_PATH


def set_up_echo_demo(database, settings) -> None:
    """At start-up, before the reactor runs: the demo number, if one is configured."""
    number = settings.agents.echo_number
    if not number:
        return
    url = echo_agent_url(settings.admin.listen)
    if url is None:
        log.warn("the echo demo number {number} is not set up: the echo agent's URL "
                 "cannot be told from [admin] listen {listen!r}", number=number,
                 listen=settings.admin.listen)
        return
    try:
        outcome = database.run_sync(ensure_echo_number, number, url)
    except SQLAlchemyError as exc:  # e.g. another node made it at the same moment
        detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        log.warn("the echo demo number {number} is not set up: {detail}", number=number,
                 detail=detail)
        return
    log.info("echo demo: {outcome}; dial {number} to hear yourself", outcome=outcome,
             number=number)
