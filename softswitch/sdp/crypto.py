"""SDES key exchange for SRTP (RFC 4568): ``a=crypto`` attributes and the media lines
that carry them.

    a=crypto:<tag> <crypto-suite> inline:<base64 key||salt>[|<lifetime>][|<MKI>:<length>]
             [<session-param> ...]

`CryptoAttribute.parse` reads one attribute and raises `SdpError` for anything that
does not follow the grammar (bad base64, a key of the wrong length for its suite, a
lifetime beyond 2^48, an MKI length out of 1-128). `usable` says whether the switch can
run SRTP with it: a suite of `SUITES`, one key without an MKI, no session parameter but
the window size hint (libsrtp keeps its own replay window). `choose_crypto` picks the
first usable attribute of a stream, as RFC 4568 §7.5 lets the answerer do.

What an SRTP stream is: ``RTP/SAVP`` or ``RTP/SAVPF`` (SRTP required), or ``RTP/AVP``
and ``RTP/AVPF`` with ``a=crypto`` lines (best-effort SRTP, as many phones offer it).
DTLS-SRTP streams (``UDP/TLS/RTP/SAVP``) carry no SDES keys and are left alone.
Pure: standard library only.
"""

import base64
import binascii
import re
from dataclasses import dataclass

from .errors import SdpError
from .model import MediaDescription

# suite -> bytes of master key || master salt (RFC 4568 §6.2, RFC 7714 §12)
SUITES = {
    "AES_CM_128_HMAC_SHA1_80": 30,
    "AES_CM_128_HMAC_SHA1_32": 30,
    "AEAD_AES_128_GCM": 28,
    "AEAD_AES_256_GCM": 44,
}
# The order the switch offers its own keys in: the most widely implemented first.
OFFERED_SUITES = ("AES_CM_128_HMAC_SHA1_80", "AES_CM_128_HMAC_SHA1_32", "AEAD_AES_128_GCM")

SAVP_PROFILES = {"RTP/SAVP": "RTP/AVP", "RTP/SAVPF": "RTP/AVPF"}
AVP_PROFILES = {plain: secure for secure, plain in SAVP_PROFILES.items()}

MAX_CRYPTO_ATTRIBUTES = 16  # per m= line; more is refused, not scanned
MAX_LIFETIME = 2 ** 48  # RFC 3711 §9.2: the SRTP limit of packets per master key
_TAG = re.compile(r"[0-9]{1,9}\Z")
_SUITE = re.compile(r"[A-Za-z0-9_]{1,64}\Z")
_LIFETIME = re.compile(r"(?:2\^([0-9]{1,3})|([0-9]{1,20}))\Z")
_MKI = re.compile(r"([0-9]{1,20}):([0-9]{1,3})\Z")
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}\Z")
# Session parameters a line may carry and still be used (RFC 4568 §6.3.7).
_HARMLESS_SESSION_PARAMS = ("WSH=",)


@dataclass(frozen=True, slots=True)
class CryptoAttribute:
    """One ``a=crypto`` value. `key` is the master key followed by the master salt."""

    tag: int
    suite: str
    key: bytes
    lifetime: int | None = None  # packets, if the line names a lifetime
    mki: tuple[int, int] | None = None  # (value, length in bytes)
    extra_keys: int = 0  # further key-params (";inline:..."), which need an MKI
    session_params: tuple[str, ...] = ()

    @classmethod
    def parse(cls, value: str) -> "CryptoAttribute":
        fields = value.split()
        if len(fields) < 3:
            raise SdpError("a=crypto must be '<tag> <suite> inline:<key>...'")
        tag, suite, key_params, *session = fields
        if not _TAG.match(tag):
            raise SdpError(f"a=crypto tag {tag[:20]!r} is not 1-9 digits")
        if not _SUITE.match(suite):
            raise SdpError(f"a=crypto suite {suite[:40]!r} is not a suite name")
        first, *others = key_params.split(";")
        key, lifetime, mki = _key_info(first, suite)
        for other in others:
            _key_info(other, suite)
        return cls(int(tag), suite, key, lifetime, mki, len(others), tuple(session))

    @property
    def usable(self) -> bool:
        """Whether SRTP can run with this line as it is."""
        return (self.suite in SUITES and self.mki is None and not self.extra_keys
                and all(param.startswith(_HARMLESS_SESSION_PARAMS)
                        for param in self.session_params))

    def __str__(self) -> str:
        text = f"{self.tag} {self.suite} inline:{base64.b64encode(self.key).decode()}"
        if self.lifetime is not None:
            text += f"|{self.lifetime}"
        if self.mki is not None:
            text += f"|{self.mki[0]}:{self.mki[1]}"
        return " ".join((text, *self.session_params))


def _key_info(param: str, suite: str) -> tuple[bytes, int | None, tuple[int, int] | None]:
    method, colon, info = param.partition(":")
    if method != "inline" or not colon:
        raise SdpError(f"a=crypto key method {method[:20]!r} is not 'inline'")
    encoded, *parts = info.split("|")
    if len(parts) > 2:
        raise SdpError("a=crypto key has more than a lifetime and an MKI after it")
    if not _BASE64.match(encoded) or len(encoded) > 128:
        raise SdpError("a=crypto key is not base64")
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise SdpError("a=crypto key is not base64") from None
    expected = SUITES.get(suite)
    if expected is not None and len(key) != expected:
        raise SdpError(f"a=crypto {suite} key||salt is {len(key)} bytes, not {expected}")
    lifetime = mki = None
    for part in parts:
        if ":" in part:
            if mki is not None:
                raise SdpError("a=crypto key has two MKIs")
            match = _MKI.match(part)
            if match is None or not 1 <= int(match.group(2)) <= 128:
                raise SdpError(f"a=crypto MKI {part[:30]!r} is not '<value>:<1-128>'")
            mki = (int(match.group(1)), int(match.group(2)))
        else:
            if lifetime is not None or mki is not None:
                raise SdpError("a=crypto lifetime must come once, before the MKI")
            match = _LIFETIME.match(part)
            if match is None:
                raise SdpError(f"a=crypto lifetime {part[:30]!r} is not a number or 2^n")
            lifetime = 2 ** int(match.group(1)) if match.group(1) else int(match.group(2))
            if not 0 < lifetime <= MAX_LIFETIME:
                raise SdpError("a=crypto lifetime is out of range (1 to 2^48)")
    return key, lifetime, mki


def crypto_attributes(media: MediaDescription) -> list[CryptoAttribute | SdpError]:
    """Every ``a=crypto`` of a stream, parsed, or the error that line gave."""
    values = media.attribute_values("crypto")
    if len(values) > MAX_CRYPTO_ATTRIBUTES:
        raise SdpError(f"m={media.media} has {len(values)} a=crypto lines, more than "
                       f"{MAX_CRYPTO_ATTRIBUTES}")
    parsed = []
    for value in values:
        try:
            parsed.append(CryptoAttribute.parse(value))
        except SdpError as exc:
            parsed.append(exc)
    return parsed


def requires_srtp(media: MediaDescription) -> bool:
    """``RTP/SAVP`` or ``RTP/SAVPF``: the stream is SRTP with SDES keys or nothing."""
    return media.proto.upper() in SAVP_PROFILES


def is_sdes_capable(media: MediaDescription) -> bool:
    """An RTP stream that may carry SDES keys (not DTLS-SRTP, not UDPTL...)."""
    proto = media.proto.upper()
    return proto in SAVP_PROFILES or proto in AVP_PROFILES


def choose_crypto(media: MediaDescription) -> CryptoAttribute | None:
    """The first usable ``a=crypto`` of an SDES-capable stream, or None when there is
    none. Malformed lines and suites the switch lacks are skipped (RFC 4568 §7.5);
    `SdpError` when there are too many lines, or when the stream requires SRTP and no
    line is usable (the offer gets 488)."""
    if not is_sdes_capable(media) or media.port == 0:
        return None
    found = crypto_attributes(media)
    for crypto in found:
        if isinstance(crypto, CryptoAttribute) and crypto.usable:
            return crypto
    if requires_srtp(media):
        reasons = "; ".join(str(c) if isinstance(c, SdpError) else f"{c.suite} unsupported"
                            for c in found[:3]) or "no a=crypto line"
        raise SdpError(f"m={media.media} {media.proto}: no usable SDES key ({reasons})")
    return None


def set_profile(media: MediaDescription, secure: bool) -> None:
    """Make the stream's proto ``RTP/SAVP(F)`` (secure) or ``RTP/AVP(F)``."""
    proto = media.proto
    table = AVP_PROFILES if secure else SAVP_PROFILES
    new = table.get(proto.upper())
    if new is None:
        return
    fields = media.lines[0].value.split()
    fields[2] = new
    media._replace(0, " ".join(fields))


def set_crypto(media: MediaDescription, attributes) -> None:
    """Replace the stream's ``a=crypto`` lines with `attributes`."""
    media.remove_attribute("crypto")
    for attribute in attributes:
        media.add_attribute("crypto", str(attribute))
