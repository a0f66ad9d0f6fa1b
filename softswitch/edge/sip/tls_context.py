"""TLS contexts for SIP: the listeners' certificate (reloaded when its files change,
without touching connections already open) and the client side towards gateways
(trust store, host name checked by service-identity, optional client certificate).

Everything cryptographic is pyOpenSSL through Twisted's CertificateOptions and
optionsForClientTLS; this module only reads files and picks options."""

import os

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from OpenSSL import SSL, crypto
from twisted.internet.interfaces import IOpenSSLServerConnectionCreator
from twisted.internet.ssl import (AcceptableCiphers, Certificate, CertificateOptions, KeyPair,
                                  PrivateCertificate, TLSVersion, optionsForClientTLS,
                                  platformTrust, trustRootFromCertificates)
from twisted.logger import Logger
from zope.interface import implementer

log = Logger()

MIN_VERSIONS = {"1.2": TLSVersion.TLSv1_2, "1.3": TLSVersion.TLSv1_3}
MAX_CLIENT_CONTEXTS = 256  # (server name, client certificate) pairs kept; one per gateway


class TlsConfigError(Exception):
    """A certificate, key or trust store cannot be used; str() names the file."""


def _pem(source: str) -> tuple[bytes, str]:
    """(PEM bytes, a name for errors) from PEM text (a trunk's, over the API) or a
    file's path."""
    if source.startswith("-----BEGIN"):
        return source.encode("ascii", "replace"), "the PEM given"
    with open(source, "rb") as f:
        return f.read(), source


def read_certificates(source: str) -> list[x509.Certificate]:
    name = source
    try:
        data, name = _pem(source)
        return x509.load_pem_x509_certificates(data)
    except (OSError, ValueError) as exc:
        raise TlsConfigError(f"{name}: no PEM certificate ({exc})") from None


def read_key(source: str):
    name = source
    try:
        data, name = _pem(source)
        return serialization.load_pem_private_key(data, None)
    except (OSError, ValueError, TypeError) as exc:
        raise TlsConfigError(f"{name}: no usable PEM private key ({exc})") from None


def _openssl(certificate: x509.Certificate) -> crypto.X509:
    return crypto.X509.from_cryptography(certificate)


def _cipher_list(ciphers: str) -> AcceptableCiphers:
    try:  # OpenSSL says whether the string names any cipher at all
        SSL.Context(SSL.TLS_METHOD).set_cipher_list(ciphers.encode("ascii"))
    except (SSL.Error, UnicodeEncodeError):
        raise TlsConfigError(f"ciphers {ciphers!r} names no cipher OpenSSL knows") from None
    return AcceptableCiphers.fromOpenSSLCipherString(ciphers)


def _mtimes(paths) -> tuple:
    stamps = []
    for path in paths:
        try:
            status = os.stat(path)
            stamps.append((status.st_mtime_ns, status.st_size, status.st_ino))
        except OSError:
            stamps.append(None)
    return tuple(stamps)


@implementer(IOpenSSLServerConnectionCreator)
class TlsContexts:
    """The server side of every `tls:` listener, and client contexts on demand.

    `reload()` (SIGHUP) and `check()` (the mtime poll) build new contexts from the
    files; new connections use them, open ones keep theirs. A file that cannot be
    read keeps the previous contexts in use and is logged."""

    def __init__(self, certificate: str = "", key: str = "", chain: str = "",
                 ca_file: str = "", min_version: str = "1.2", ciphers: str = "",
                 verify_client: bool = False):
        self._paths = (certificate, key, chain, ca_file)
        self._min_version = MIN_VERSIONS[min_version]
        self._ciphers = _cipher_list(ciphers) if ciphers else None
        self._verify_client = verify_client
        self._server: CertificateOptions | None = None
        self._trust = None
        self._clients: dict = {}
        self._stamps = None
        self.loads = 0
        self._load()

    # -- loading ------------------------------------------------------------------
    def _files(self) -> list[str]:
        return [p for p in self._paths if p]

    def _load(self) -> None:
        certificate, key, chain, ca_file = self._paths
        stamps = _mtimes(self._files())
        authorities = read_certificates(ca_file) if ca_file else None
        server = None
        if certificate:
            server = self._server_options(certificate, key, chain, authorities)
        self._server = server
        self._trust = (trustRootFromCertificates([Certificate(_openssl(c)) for c in authorities])
                       if authorities else platformTrust())
        self._clients = {}
        self._stamps = stamps
        self.loads += 1

    def _server_options(self, certificate: str, key: str, chain: str, authorities):
        certificates = read_certificates(certificate)
        extra = certificates[1:] + (read_certificates(chain) if chain else [])
        options = dict(
            privateKey=crypto.PKey.from_cryptography_key(read_key(key)),
            certificate=_openssl(certificates[0]),
            extraCertChain=[_openssl(c) for c in extra],
            raiseMinimumTo=self._min_version,
        )
        if self._ciphers is not None:
            options["acceptableCiphers"] = self._ciphers
        if self._verify_client:
            if not authorities:
                raise TlsConfigError("verify_client needs a ca_file")
            options.update(verify=True, requireCertificate=True,
                           caCerts=[_openssl(c) for c in authorities])
        server = CertificateOptions(**options)
        try:
            server.getContext()  # the key must match the certificate: fail here, not per peer
        except SSL.Error as exc:
            raise TlsConfigError(f"{certificate} and {key} do not go together ({exc})") from None
        return server

    def reload(self) -> bool:
        """Read the files again (SIGHUP); False when they cannot be used."""
        try:
            self._load()
        except TlsConfigError as exc:
            log.error("TLS certificate not reloaded, the previous one stays in use: {error}",
                      error=str(exc))
            self._stamps = _mtimes(self._files())  # not again until they change again
            return False
        log.info("TLS certificate and trust store loaded from {files}",
                 files=", ".join(self._files()))
        return True

    def check(self) -> bool:
        """Reload when a file changed since it was read (the mtime poll)."""
        if _mtimes(self._files()) == self._stamps:
            return False
        return self.reload()

    # -- server side (IOpenSSLServerConnectionCreator) --------------------------------
    @property
    def serving(self) -> bool:
        return self._server is not None

    def serverConnectionForTLS(self, protocol) -> SSL.Connection:
        return SSL.Connection(self._server.getContext(), None)

    # -- client side ----------------------------------------------------------------
    def client(self, destination):
        """A client connection creator for a TlsDestination (cached)."""
        key = (destination.server_name, destination.client_certificate, destination.client_key)
        creator = self._clients.get(key)
        if creator is None:
            if len(self._clients) >= MAX_CLIENT_CONTEXTS:
                self._clients.clear()
            creator = self._clients[key] = self._client(destination)
        return creator

    def _client(self, destination):
        client_certificate = None
        extra = {"raiseMinimumTo": self._min_version}
        if destination.client_certificate:
            # Mutual TLS: the trunk's certificate, its intermediates after it in the file.
            certificates = read_certificates(destination.client_certificate)
            private = read_key(destination.client_key or destination.client_certificate)
            client_certificate = PrivateCertificate.fromCertificateAndKeyPair(
                Certificate(_openssl(certificates[0])),
                KeyPair(crypto.PKey.from_cryptography_key(private)))
            extra["extraCertChain"] = [_openssl(c) for c in certificates[1:]]
        if self._ciphers is not None:
            extra["acceptableCiphers"] = self._ciphers
        return optionsForClientTLS(destination.server_name, trustRoot=self._trust,
                                   clientCertificate=client_certificate,
                                   extraCertificateOptions=extra)
