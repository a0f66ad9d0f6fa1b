"""Random identifiers: tags and Call-IDs (RFC 3261 §19.3 asks for 32 random bits at
least; we use 64+)."""

import binascii
import os


def new_tag() -> str:
    return binascii.hexlify(os.urandom(8)).decode()


def new_call_id(host: str) -> str:
    return f"{binascii.hexlify(os.urandom(12)).decode()}@{host}"
