"""wss:// agents: the certificate and the host name are verified, against the system's
authorities or the ones `[agents] ca_file` names, before anything is sent."""

import datetime
import ssl
import tempfile
import time
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThread
from twisted.trial import unittest
from ws_agent_server import AgentServer

from softswitch import config
from softswitch.config import ConfigError
from softswitch.edge.agent.websocket import AgentRefused, connect_agent, load_trust_root
from softswitch.edge.polling.read_group import ReadGroup
from softswitch.compose.trust import agent_trust_root


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_certificate(subject, issuer_name, issuer_key, public_key, *, ca: bool,
                     dns: str | None = None):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder().subject_name(_name(subject))
               .issuer_name(_name(issuer_name)).public_key(public_key)
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if dns is not None:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(dns)]),
                                        critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


class AgentPki:
    """A private CA and server certificates it signed, as PEM files."""

    def __init__(self, directory):
        self.directory = directory
        self.ca_key = ec.generate_private_key(ec.SECP256R1())
        self.ca = make_certificate("Test Agents CA", "Test Agents CA", self.ca_key,
                                   self.ca_key.public_key(), ca=True)
        self.ca_file = directory / "ca.pem"
        self.ca_file.write_bytes(self.ca.public_bytes(serialization.Encoding.PEM))

    def server_context(self, dns: str) -> ssl.SSLContext:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = make_certificate(dns, "Test Agents CA", self.ca_key, key.public_key(),
                                ca=False, dns=dns)
        cert_file, key_file = self.directory / f"{dns}.pem", self.directory / f"{dns}.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        return context


async def echo(websocket):
    async for message in websocket:
        await websocket.send(message)


class SecureAgentTests(unittest.TestCase):
    timeout = 20

    def setUp(self):
        directory = tempfile.TemporaryDirectory()
        self.addCleanup(directory.cleanup)
        self.pki = AgentPki(Path(directory.name))
        self.read_group = ReadGroup(reactor)

    def serve(self, dns: str) -> AgentServer:
        server = AgentServer(echo, ssl_context=self.pki.server_context(dns),
                             url_host="localhost").__enter__()
        self.addCleanup(deferToThread, server.__exit__, None, None, None)
        return server

    def connect(self, server, trust_root):
        return connect_agent(reactor, server.url, {}, 5, self.read_group, trust_root)

    def test_an_agent_certified_by_the_configured_authority_is_talked_to(self):
        server = self.serve("localhost")
        received = []

        def opened(socket):
            class Listener:
                def text_received(self, text):
                    received.append(text)

                def binary_received(self, data):
                    pass

                def closed(self, code, reason):
                    pass

            socket.listener = Listener()
            # TLS bytes are not the agent's frames: Twisted reads this socket, not the group.
            self.assertEqual(len(self.read_group), 0)
            socket.send_text('{"event":"media","n":1}')
            socket.send_text("x" * 300)
            return _until(lambda: len(received) == 2).addCallback(lambda _: socket.close())

        d = self.connect(server, load_trust_root(str(self.pki.ca_file))).addCallback(opened)
        return d.addCallback(lambda _: self.assertEqual(
            received, ['{"event":"media","n":1}', "x" * 300]))

    def test_an_authority_the_switch_does_not_trust_is_refused(self):
        server = self.serve("localhost")
        d = self.assertFailure(self.connect(server, None), AgentRefused)
        return d.addCallback(lambda _: self.assertEqual(server.requests, []))

    def test_a_certificate_for_another_name_is_refused(self):
        server = self.serve("agents.example.com")
        d = self.assertFailure(
            self.connect(server, load_trust_root(str(self.pki.ca_file))), AgentRefused)
        return d.addCallback(lambda _: self.assertEqual(server.requests, []))


def _until(condition, timeout=5.0):
    deadline = time.monotonic() + timeout

    def check(_=None):
        if condition():
            return None
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        return deferLater(reactor, 0.01, lambda: None).addCallback(check)
    return check()


def test_the_ca_file_setting_must_name_a_file_of_certificates(tmp_path):
    assert config.validate({}).agents.ca_file == ""
    assert agent_trust_root(config.validate({}).agents) is None
    with pytest.raises(ConfigError, match=r"^\[agents\] ca_file '/nonexistent.pem' is not a file$"):
        config.validate({"agents": {"ca_file": "/nonexistent.pem"}})
    empty = tmp_path / "empty.pem"
    empty.write_text("not a certificate\n")
    from softswitch.edge.sip.service import StartupError
    with pytest.raises(StartupError, match="holds no PEM certificate"):
        agent_trust_root(config.validate({"agents": {"ca_file": str(empty)}}).agents)
    broken = tmp_path / "broken.pem"
    broken.write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with pytest.raises(StartupError, match="cannot be read"):
        agent_trust_root(config.validate({"agents": {"ca_file": str(broken)}}).agents)
