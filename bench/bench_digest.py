"""Micro-benchmark: full DigestAuthenticator.authenticate() calls per second.

    python bench/bench_digest.py [iterations]

Each call parses the header, looks the user up, verifies the response and checks the
nonce; refused calls also issue a fresh nonce and build two challenges.
"""

import hashlib
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from softswitch.services.auth import DigestAuthenticator  # noqa: E402
from softswitch.sip.digest import NonceManager, build_challenge, compute_ha1  # noqa: E402

REALM = "example.com"
URI = "sip:example.com"
NOW = 1_700_000_000.0
PASSWORD = "correct horse"
HASH_NAMES = {"MD5": "md5", "SHA-256": "sha256"}


def phone_headers(algorithm, nonce, count, password=PASSWORD):
    """Authorization values a phone would send, one per nonce count, built ahead of timing."""
    def h(text):
        return hashlib.new(HASH_NAMES[algorithm], text.encode()).hexdigest()

    ha1 = h(f"alice:{REALM}:{password}")
    ha2 = h(f"REGISTER:{URI}")
    headers = []
    for nc in range(1, count + 1):
        nc_text = f"{nc:08x}"
        response = h(f"{ha1}:{nonce}:{nc_text}:0a4f113b:auth:{ha2}")
        headers.append(
            f'Digest username="alice", realm="{REALM}", nonce="{nonce}", uri="{URI}", '
            f'algorithm={algorithm}, qop=auth, nc={nc_text}, cnonce="0a4f113b", '
            f'response="{response}"'
        )
    return headers


def run(algorithm, iterations, password=PASSWORD):
    stored = {a: compute_ha1("alice", REALM, PASSWORD, a) for a in HASH_NAMES}
    nonces = NonceManager(b"benchmark-secret-0123456789abcdef", lifetime=3600.0)
    authenticator = DigestAuthenticator(
        REALM, nonces, lambda user, realm, alg: stored[alg] if user == "alice" else None
    )
    nonce = nonces.issue(NOW)
    assert build_challenge(REALM, nonce, algorithm)
    headers = phone_headers(algorithm, nonce, iterations, password)
    expect_ok = password == PASSWORD

    start = time.perf_counter()
    for header in headers:
        outcome = authenticator.authenticate("REGISTER", URI, [header], NOW)
    elapsed = time.perf_counter() - start
    assert outcome.ok is expect_ok, outcome
    return iterations / elapsed


def main():
    iterations = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    for algorithm in ("SHA-256", "MD5"):
        accepted = run(algorithm, iterations)
        refused = run(algorithm, iterations, password="wrong")
        print(f"{algorithm:8} accepted: {accepted:10,.0f}/s   "
              f"refused (new challenge): {refused:10,.0f}/s")


if __name__ == "__main__":
    main()
