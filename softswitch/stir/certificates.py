"""STI certificates (ATIS-1000080, RFC 8226): the PEM chain an x5u serves, checked
against the configured trust anchors at `now` by cryptography's X.509 path
validation, and the TNAuthList extension saying which numbers (or which service
provider, by SPC) the key may sign for."""

import datetime
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import verification
from pyasn1.codec.der import decoder, encoder
from pyasn1.error import PyAsn1Error
from pyasn1.type import char, namedtype, tag, univ

TN_AUTH_LIST_OID = x509.ObjectIdentifier("1.3.6.1.5.5.7.1.26")  # id-pe-TNAuthList
MAX_CHAIN_LENGTH = 4  # certificates read from one x5u (leaf and intermediates)
MAX_TN_ENTRIES = 64
MAX_RANGE_COUNT = 10 ** 8


class CertificateError(ValueError):
    """A certificate that cannot be used to verify; str() says why."""


# RFC 8226 §9 (TN-Module-2016, EXPLICIT TAGS).
class TelephoneNumberRange(univ.Sequence):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("start", char.IA5String()),
        namedtype.NamedType("count", univ.Integer()))


def _explicit(n: int):
    return tag.Tag(tag.tagClassContext, tag.tagFormatConstructed, n)


class TNEntry(univ.Choice):
    componentType = namedtype.NamedTypes(
        namedtype.NamedType("spc", char.IA5String().subtype(explicitTag=_explicit(0))),
        namedtype.NamedType("range", TelephoneNumberRange().subtype(
            explicitTag=_explicit(1))),
        namedtype.NamedType("one", char.IA5String().subtype(explicitTag=_explicit(2))))


class TNAuthorizationList(univ.SequenceOf):
    componentType = TNEntry()


@dataclass(frozen=True, slots=True)
class TnAuthorization:
    """What a TNAuthList grants: service provider codes, numbers, number ranges."""

    spcs: tuple[str, ...] = ()
    numbers: tuple[str, ...] = ()
    ranges: tuple[tuple[int, int, int], ...] = ()  # (first, count, digits)

    def covers(self, tn: str) -> bool:
        """Whether the key may sign for `tn` (canonical digits). A list naming a
        service provider code covers every number: SHAKEN's carrier attests for its
        own customers and its attestation level says how far."""
        if self.spcs or tn in self.numbers:
            return True
        if tn.isdigit():
            value = int(tn)
            return any(len(tn) == digits and first <= value < first + count
                       for first, count, digits in self.ranges)
        return False


@dataclass(frozen=True, slots=True)
class StiCertificate:
    """A verified signing certificate: its key, its TNAuthList, until when it is good."""

    public_key: ec.EllipticCurvePublicKey
    authorization: TnAuthorization
    not_after: float  # epoch seconds


def encode_tn_auth_list(spcs=(), numbers=(), ranges=()) -> bytes:
    """The DER of a TNAuthList extension value (what a CA puts in a certificate)."""
    value = TNAuthorizationList()
    for spc in spcs:
        entry = TNEntry()
        entry.setComponentByName("spc", spc)
        value.append(entry)
    for number in numbers:
        entry = TNEntry()
        entry.setComponentByName("one", number)
        value.append(entry)
    for start, count in ranges:
        entry = TNEntry()
        entry["range"]["start"] = start
        entry["range"]["count"] = count
        value.append(entry)
    return encoder.encode(value)


def decode_tn_auth_list(der: bytes) -> TnAuthorization:
    try:
        value, rest = decoder.decode(der, asn1Spec=TNAuthorizationList())
    except PyAsn1Error as exc:
        raise CertificateError(f"unreadable TNAuthList: {exc}") from None
    if rest or len(value) == 0:
        raise CertificateError("TNAuthList empty or followed by garbage")
    if len(value) > MAX_TN_ENTRIES:
        raise CertificateError("TNAuthList too long")
    spcs, numbers, ranges = [], [], []
    for entry in value:
        name = entry.getName()
        if name == "spc":
            spcs.append(str(entry["spc"]))
        elif name == "one":
            numbers.append(str(entry["one"]))
        else:
            start, count = str(entry["range"]["start"]), int(entry["range"]["count"])
            if not start.isdigit() or not 2 <= count <= MAX_RANGE_COUNT:
                raise CertificateError("TNAuthList range unreadable")
            ranges.append((int(start), count, len(start)))
    return TnAuthorization(tuple(spcs), tuple(numbers), tuple(ranges))


def load_anchors(pems: list[bytes]) -> list[x509.Certificate]:
    """Trust anchors from PEM files' contents (each may hold several)."""
    anchors = []
    for pem in pems:
        try:
            anchors.extend(x509.load_pem_x509_certificates(pem))
        except ValueError as exc:
            raise CertificateError(f"unreadable trust anchor: {exc}") from None
    return anchors


def verify_sti_chain(pem: bytes, anchors: list[x509.Certificate], now: float) -> StiCertificate:
    """The leaf of the PEM chain an x5u served, when it chains to one of `anchors` at
    `now`, carries a P-256 key and a TNAuthList; CertificateError otherwise."""
    if not anchors:
        raise CertificateError("no trust anchors configured")
    try:
        chain = x509.load_pem_x509_certificates(pem)
    except ValueError:
        try:
            chain = [x509.load_der_x509_certificate(pem)]
        except ValueError as exc:
            raise CertificateError(f"unreadable certificate: {exc}") from None
    if not chain or len(chain) > MAX_CHAIN_LENGTH:
        raise CertificateError("x5u served no certificate or too many")
    leaf, intermediates = chain[0], chain[1:]
    verifier = (verification.PolicyBuilder()
                .store(verification.Store(anchors))
                .time(datetime.datetime.fromtimestamp(now, datetime.timezone.utc))
                .max_chain_depth(MAX_CHAIN_LENGTH)
                .extension_policies(ca_policy=verification.ExtensionPolicy.webpki_defaults_ca(),
                                    ee_policy=_STI_EE_POLICY)
                .build_client_verifier())
    try:
        verifier.verify(leaf, intermediates)
    except verification.VerificationError as exc:
        raise CertificateError(f"certificate does not chain to a trust anchor: {exc}") from None
    key = leaf.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise CertificateError("certificate key is not P-256")
    try:
        extension = leaf.extensions.get_extension_for_oid(TN_AUTH_LIST_OID)
    except x509.ExtensionNotFound:
        raise CertificateError("certificate has no TNAuthList") from None
    authorization = decode_tn_auth_list(extension.value.value)
    # Good until the first certificate of the chain expires.
    not_after = min(c.not_valid_after_utc for c in chain).timestamp()
    return StiCertificate(key, authorization, not_after)


# An STI end-entity certificate has no subjectAltName or EKU of the web PKI; its
# TNAuthList is checked above.
_STI_EE_POLICY = verification.ExtensionPolicy.permit_all()
