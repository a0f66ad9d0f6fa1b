"""Certificates and keys for the switch's TLS clients: STIR/SHAKEN's signer and
verifier, the agents' WebSocket trust root."""

from ..config import Settings
from ..edge.agent.websocket import load_trust_root
from ..edge.sip.service import StartupError
from ..edge.stir.setup import build_signing, build_verification


def build_stir(settings: Settings, reactor, snapshot):
    """[stir]: the signer and the verifier (None each when not configured)."""
    stir = settings.stir
    try:
        trust_root = load_trust_root(stir.fetch_ca_file) if stir.fetch_ca_file else None
        return (build_signing(stir, reactor, snapshot),
                build_verification(stir, reactor, trust_root))
    except ValueError as exc:
        raise StartupError(str(exc) if str(exc).startswith("[stir]")
                           else f"[stir] fetch_ca_file: {exc}") from None


def agent_trust_root(agents):
    """[agents] ca_file's authorities, or None for the system's."""
    if not agents.ca_file:
        return None
    try:
        return load_trust_root(agents.ca_file)
    except ValueError as exc:
        raise StartupError(f"[agents] ca_file: {exc}") from None
