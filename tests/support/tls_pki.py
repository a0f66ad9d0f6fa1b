"""A private PKI for the TLS tests, made with cryptography's x509 builder: a test CA
and certificates it signs (server, client, wrong name), written as PEM files."""

import datetime
import ipaddress
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


class Pki:
    """A CA under `directory`; `issue()` writes a certificate and key signed by it."""

    def __init__(self, directory: Path, name: str = "Test SIP CA"):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.certificate = self._build(name, self.key.public_key(), ca=True, names=())
        self.ca_file = self.directory / f"{_slug(name)}.pem"
        self.ca_file.write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))

    def _build(self, subject: str, public_key, *, ca: bool, names, client: bool = False):
        now = datetime.datetime.now(datetime.timezone.utc)
        builder = (x509.CertificateBuilder().subject_name(_name(subject))
                   .issuer_name(_name(self.name)).public_key(public_key)
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=ca, path_length=None),
                                  critical=True))
        if names:
            alternatives = []
            for name in names:
                try:
                    alternatives.append(x509.IPAddress(ipaddress.ip_address(name)))
                except ValueError:
                    alternatives.append(x509.DNSName(name))
            builder = builder.add_extension(x509.SubjectAlternativeName(alternatives),
                                            critical=False)
        if not ca:
            usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
            builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        signer = getattr(self, "key")
        return builder.sign(signer, hashes.SHA256())

    def issue(self, label: str, *names: str, client: bool = False) -> tuple[Path, Path]:
        """(certificate file, key file) for `names` (DNS names or IP addresses)."""
        key = ec.generate_private_key(ec.SECP256R1())
        certificate = self._build(label, key.public_key(), ca=False, names=names,
                                  client=client)
        cert_file = self.directory / f"{label}.pem"
        key_file = self.directory / f"{label}.key"
        cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        return cert_file, key_file

    @staticmethod
    def serial(cert_file: Path) -> int:
        return x509.load_pem_x509_certificate(Path(cert_file).read_bytes()).serial_number


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower())
