"""The admin API alone on a real listener, for tests that need another process.

    python tests/admin/live_server.py --db-url sqlite:///x.db --token T

Migrates the database, installs the bootstrap token, listens on 127.0.0.1 at
an ephemeral port and prints ``listening on PORT`` once it accepts requests.
It stops on SIGTERM or SIGINT.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from twisted.internet import reactor  # noqa: E402

from softswitch.admin.api import build_api  # noqa: E402
from softswitch.edge.admin.site import build_root, build_site  # noqa: E402
from softswitch.metrics import Metrics  # noqa: E402
from softswitch.store import migrate, tokens  # noqa: E402
from softswitch.store.database import Database  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db-url", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--domain", default="switch.test")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)

    migrate.upgrade(args.db_url)
    metrics = Metrics()
    database = Database(args.db_url, reactor, observe=metrics.observe_db)
    database.run_sync(tokens.ensure_bootstrap_token, args.token)
    database.start()
    reactor.addSystemEventTrigger("after", "shutdown", database.stop)
    api = build_api(database, reactor, domain=args.domain, metrics=metrics)
    site = build_site(build_root(metrics.registry, lambda: {"status": "ok"}, api), api, reactor)
    port = reactor.listenTCP(args.port, site, interface="127.0.0.1")
    print(f"listening on {port.getHost().port}", flush=True)
    reactor.run()


if __name__ == "__main__":
    main()
