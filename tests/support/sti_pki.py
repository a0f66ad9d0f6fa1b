"""A test STI PKI made with cryptography's X.509 builder: a root (trust anchor), an
intermediate, and STI end-entity certificates with a TNAuthList (RFC 8226), as an
STI-CA would issue them (ATIS-1000080)."""

import datetime
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from softswitch.stir.certificates import TN_AUTH_LIST_OID, encode_tn_auth_list

EPOCH = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
NOW = 1_790_000_000.0  # 2026-09-21, inside every certificate's validity here


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "softswitch tests")])


@dataclass
class Issued:
    certificate: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption())


def _ski(key):
    return x509.SubjectKeyIdentifier.from_public_key(key.public_key())


def make_ca(cn: str = "Test STI-PA Root", issuer: Issued | None = None,
            days: int = 3650) -> Issued:
    key = ec.generate_private_key(ec.SECP256R1())
    signer = issuer.key if issuer else key
    builder = (x509.CertificateBuilder()
               .subject_name(_name(cn))
               .issuer_name(issuer.certificate.subject if issuer else _name(cn))
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(EPOCH)
               .not_valid_after(EPOCH + datetime.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(False, False, False, False, False, True, True,
                                            False, False), critical=True)
               .add_extension(_ski(key), critical=False))
    if issuer:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key()),
            critical=False)
    return Issued(builder.sign(signer, hashes.SHA256()), key)


def make_sti(issuer: Issued, spcs=("1234",), numbers=(), ranges=(),
             days: int = 365, tn_auth_list: bool = True, start=EPOCH) -> Issued:
    """An STI end-entity certificate signed by `issuer`."""
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (x509.CertificateBuilder()
               .subject_name(_name("SHAKEN 1234"))
               .issuer_name(issuer.certificate.subject)
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(start)
               .not_valid_after(start + datetime.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.KeyUsage(True, False, False, False, False, False, False,
                                            False, False), critical=True)
               .add_extension(_ski(key), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   issuer.key.public_key()), critical=False))
    if tn_auth_list:
        builder = builder.add_extension(x509.UnrecognizedExtension(
            TN_AUTH_LIST_OID, encode_tn_auth_list(spcs, numbers, ranges)), critical=False)
    return Issued(builder.sign(issuer.key, hashes.SHA256()), key)


@dataclass
class Pki:
    root: Issued
    intermediate: Issued
    sti: Issued

    @property
    def chain_pem(self) -> bytes:
        """What an x5u serves: the STI certificate, then the intermediate."""
        return self.sti.pem + self.intermediate.pem


def make_pki(**sti_options) -> Pki:
    root = make_ca()
    intermediate = make_ca("Test STI-CA", issuer=root)
    return Pki(root, intermediate, make_sti(intermediate, **sti_options))
