"""softswitch-admin: the admin API from a terminal (stdlib only).

    softswitch-admin trunks list
    softswitch-admin numbers add +14155550100 --agent support-bot --trunk humans
    softswitch-admin users add alice --password 's3cret-pass'
    softswitch-admin tokens create ops
    softswitch-admin calls list

--url (env SOFTSWITCH_URL) and --token (env SOFTSWITCH_ADMIN_TOKEN) say where
and as whom. Lists print a table (-o json for JSON); other answers print JSON.
An API error prints its message (and field) on stderr and exits 1.
"""

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from urllib.parse import quote, urlencode

from softswitch.admin.cli_resources import RESOURCES, Resource, UsageError

DEFAULT_URL = "http://127.0.0.1:8080"
TIMEOUT_SECONDS = 30


class ApiFailure(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class Client:
    def __init__(self, url: str, token: str | None):
        self._url = url.rstrip("/")
        self._token = token

    def call(self, method: str, path: str, body=None, query: dict | None = None):
        url = self._url + path
        if query:
            url += "?" + urlencode({k: v for k, v in query.items() if v is not None})
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self._token:
            request.add_header("Authorization", f"Bearer {self._token}")
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
                payload = response.read()
        except urllib.error.HTTPError as exc:
            raise ApiFailure(_error_message(exc)) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise ApiFailure(f"cannot reach {self._url}: {reason}") from None
        return json.loads(payload) if payload else None

    def pages(self, path: str, query: dict, limit: int | None):
        """Every item of a list (one page only when ``limit`` is given)."""
        query = dict(query, limit=limit or 1000)
        while True:
            page = self.call("GET", path, query=query)
            yield from page["items"]
            if limit or not page["next"]:
                return
            query["after"] = page["next"]


def _error_message(exc: urllib.error.HTTPError) -> str:
    try:
        error = json.loads(exc.read())["error"]
    except (ValueError, KeyError, TypeError):
        return f"HTTP {exc.code} {exc.reason}"
    message = error.get("message", f"HTTP {exc.code}")
    field = error.get("field")
    if field and not message.startswith(f"{field}:"):
        message += f" (field: {field})"
    return f"{message} [HTTP {exc.code}]"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="softswitch-admin", description="Manage a softswitch through its admin API.")
    parser.add_argument("--url", default=None,
                        help=f"admin API base URL (env SOFTSWITCH_URL, default {DEFAULT_URL})")
    parser.add_argument("--token", default=None, help="bearer token (env SOFTSWITCH_ADMIN_TOKEN)")
    parser.add_argument("-o", "--output", choices=("table", "json"), default="table",
                        help="how lists are printed")
    resources = parser.add_subparsers(dest="resource", required=True, metavar="RESOURCE")
    for resource in RESOURCES.values():
        resource.add_to(resources)
    return parser


def main(argv=None, stdout=None, stderr=None, environ=None) -> int:
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    environ = os.environ if environ is None else environ
    args = build_parser().parse_args(argv)
    url = args.url or environ.get("SOFTSWITCH_URL") or DEFAULT_URL
    token = args.token or environ.get("SOFTSWITCH_ADMIN_TOKEN")
    client = Client(url, token)
    resource: Resource = RESOURCES[args.resource]
    try:
        result = run(client, resource, args)
    except (ApiFailure, UsageError) as exc:
        stderr.write(f"softswitch-admin: {exc.message}\n")
        return 1
    if result is None:
        return 0
    if isinstance(result, list) and args.output == "table":
        stdout.write(resource.table(result))
    else:
        stdout.write(json.dumps(result, indent=2) + "\n")
    return 0


def run(client: Client, resource: Resource, args):
    collection = f"/v1/{resource.name}"
    action = args.action
    if action == "list":
        return list(client.pages(collection, resource.list_query(args), args.limit))
    key = quote(str(args.key), safe="")
    if action == "get":
        return client.call("GET", f"{collection}/{key}")
    if action in ("delete", "hangup"):
        client.call("DELETE", f"{collection}/{key}")
        return None
    body = json.loads(args.json) if getattr(args, "json", None) else {}
    if not isinstance(body, dict):
        raise UsageError("--json must be a JSON object")
    body.update(resource.body_from_flags(args))
    if action in ("add", "create"):
        resource.put_key(body, args.key)
        return client.call("POST", collection, body)
    if action == "update":
        return client.call("PATCH", f"{collection}/{key}", body)
    raise UsageError(f"unknown action {action}")


if __name__ == "__main__":
    sys.exit(main())
