"""[stir] into the switch's STIR/SHAKEN services: the signer (certificate URL and
key file) and the verifier (trust anchors, the x5u fetcher and its cache)."""

from pathlib import Path

from ...services.stir_signing import CallSigning, allowed_numbers_owner
from ...services.stir_verification import CallVerification
from ...stir.cert_cache import CertCache
from ...stir.certificates import CertificateError, load_anchors
from ...stir.signing import Signer
from .fetcher import CertificateFetcher


class StirSetupError(ValueError):
    """A [stir] file cannot be used; str() names it."""


def build_signing(stir, clock, snapshot_source, number_is_ours=None) -> CallSigning | None:
    """The signer of calls to trunks, or None when [stir] names no certificate.
    `number_is_ours` is the caller-ID policy's, else the numbers table."""
    if not stir.certificate_url:
        return None
    try:
        pem = Path(stir.key_file).read_bytes()
    except OSError as exc:
        raise StirSetupError(f"[stir] key_file {stir.key_file}: {exc.strerror}") from None
    try:
        signer = Signer.from_pem(pem, stir.certificate_url)
    except (ValueError, TypeError) as exc:
        raise StirSetupError(f"[stir] key_file {stir.key_file}: {exc}") from None
    return CallSigning(signer, clock, number_is_ours or allowed_numbers_owner(snapshot_source))


def read_anchors(directory: str) -> list:
    """Every certificate of the PEM files (*.pem, *.crt) in `directory`."""
    path = Path(directory)
    if not path.is_dir():
        raise StirSetupError(f"[stir] trust_anchors {directory} is not a directory")
    pems = [p.read_bytes() for p in sorted(path.iterdir())
            if p.suffix in (".pem", ".crt") and p.is_file()]
    try:
        anchors = load_anchors(pems)
    except CertificateError as exc:
        raise StirSetupError(f"[stir] trust_anchors: {exc}") from None
    if not anchors:
        raise StirSetupError(f"[stir] trust_anchors {directory} holds no PEM certificate")
    return anchors


def build_verification(stir, reactor, trust_root=None) -> CallVerification | None:
    """The verifier of calls from trunks, or None when [stir] names no trust anchors."""
    if not stir.trust_anchors:
        return None
    fetcher = CertificateFetcher(
        reactor, CertCache(stir.cache_size, stir.cache_ttl, stir.failure_ttl),
        read_anchors(stir.trust_anchors), timeout=stir.fetch_timeout,
        max_bytes=stir.fetch_max_bytes, max_fetches=stir.max_fetches, trust_root=trust_root)
    return CallVerification(fetcher, reactor, stir.max_iat_age)
