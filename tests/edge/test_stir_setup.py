"""[stir] at start-up: the signer and the verifier are built from their files, and a
file that cannot be used stops the start with one line naming the key."""

import pytest
from sti_pki import make_pki
from twisted.internet.task import Clock

from softswitch import config
from softswitch.services.routing import SnapshotHolder
from softswitch.compose.trust import build_stir
from softswitch.edge.sip.service import StartupError


def settings(**stir):
    return config.validate({"stir": stir})


def test_nothing_configured_builds_nothing():
    assert build_stir(settings(), Clock(), SnapshotHolder()) == (None, None)


def test_the_signer_and_the_verifier_from_their_files(tmp_path):
    pki = make_pki()
    (tmp_path / "sti.key").write_bytes(pki.sti.key_pem)
    anchors = tmp_path / "anchors"
    anchors.mkdir()
    (anchors / "root.pem").write_bytes(pki.root.pem)
    (anchors / "README").write_text("not a certificate, and not read")
    signing, verification = build_stir(settings(
        certificate_url="https://sti.example/sp.pem", key_file=str(tmp_path / "sti.key"),
        trust_anchors=str(anchors)), Clock(), SnapshotHolder())
    assert signing is not None and verification is not None


@pytest.mark.parametrize("case, message", [
    ("missing-key", r"^\[stir\] key_file .*: No such file"),
    ("rsa-key", r"^\[stir\] key_file .*"),
    ("no-anchors-dir", r"^\[stir\] trust_anchors .* is not a directory$"),
    ("empty-anchors", r"^\[stir\] trust_anchors .* holds no PEM certificate$"),
    ("bad-anchor", r"^\[stir\] trust_anchors: unreadable trust anchor"),
    ("bad-fetch-ca", r"^\[stir\] fetch_ca_file: "),
])
def test_unusable_files_stop_the_start_naming_the_key(tmp_path, case, message):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    values = {}
    if case in ("missing-key", "rsa-key"):
        key = tmp_path / "sti.key"
        if case == "rsa-key":
            key.write_bytes(rsa.generate_private_key(65537, 2048).private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()))
        values = {"certificate_url": "https://sti.example/sp.pem", "key_file": str(key)}
    elif case == "bad-fetch-ca":
        (tmp_path / "ca.pem").write_text("nothing")
        values = {"fetch_ca_file": str(tmp_path / "ca.pem")}
    else:
        anchors = tmp_path / "anchors"
        if case != "no-anchors-dir":
            anchors.mkdir()
        if case == "bad-anchor":
            (anchors / "root.pem").write_text(
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
        values = {"trust_anchors": str(anchors)}
    with pytest.raises(StartupError, match=message):
        build_stir(settings(**values), Clock(), SnapshotHolder())
