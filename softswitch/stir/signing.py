"""The signer's side (RFC 8224 §5, ATIS-1000074 §5.3.1): a PASSporT for one outbound
call, in the Identity header value it travels in."""

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from .attestation import origid_for
from .identity_header import format_identity
from .passport import encode_passport, shaken_claims


class Signer:
    """Signs with one STI certificate's key; `x5u` is where that certificate is
    served (what verifiers fetch)."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey, x5u: str):
        if not isinstance(private_key, ec.EllipticCurvePrivateKey) \
                or private_key.curve.name != "secp256r1":
            raise ValueError("the STI key must be an EC P-256 key (ES256)")
        if not x5u.startswith("https://"):
            raise ValueError("the certificate URL (x5u) must be https")
        self._key = private_key
        self.x5u = x5u

    @classmethod
    def from_pem(cls, pem: bytes, x5u: str) -> "Signer":
        return cls(load_pem_private_key(pem, password=None), x5u)

    def identity(self, attest: str, orig_tn: str, dest_tn: str, now: float,
                 source: str) -> str:
        """The Identity header value for a call from `orig_tn` to `dest_tn`
        (ValueError when either is not a telephone number)."""
        claims = shaken_claims(attest, orig_tn, dest_tn, int(now), origid_for(source))
        return format_identity(encode_passport(claims, self._key, self.x5u), self.x5u)
