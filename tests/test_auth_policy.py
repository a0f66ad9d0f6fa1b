"""Tests for the digest authentication policy (registrar and proxy)."""

import dataclasses
import hashlib
import re

import pytest

from softswitch.services import auth as auth_module
from softswitch.services.auth import AuthOutcome, DigestAuthenticator
from softswitch.sip.digest import NonceManager, build_challenge, compute_ha1

REALM = "example.com"
URI = "sip:example.com"
NOW = 1_000_000.0
SECRET = b"policy-test-secret-0123456789"
PASSWORDS = {"alice": "wonderland", "bob@example.com": "builder"}


def _hash(algorithm, text):
    name = {"MD5": "md5", "SHA-256": "sha256"}[algorithm]
    return hashlib.new(name, text.encode()).hexdigest()


def phone_answer(challenge, username, password, *, method="REGISTER", uri=URI, nc=1,
                 use_qop=True, realm=None, extra=""):
    """The Authorization value a phone builds from one challenge (independent of the code)."""
    fields = dict(re.findall(r'(\w+)="?([^",]*)"?', challenge))
    nonce, algorithm = fields["nonce"], fields["algorithm"]
    realm = realm or fields["realm"]
    ha1 = _hash(algorithm, f"{username}:{realm}:{password}")
    ha2 = _hash(algorithm, f"{method}:{uri}")
    value = (f'Digest username="{username}", realm="{realm}", nonce="{nonce}", uri="{uri}", '
             f"algorithm={algorithm}{extra}")
    if use_qop:
        nc_text = f"{nc:08x}"
        response = _hash(algorithm, f"{ha1}:{nonce}:{nc_text}:c0ffee:auth:{ha2}")
        value += f', qop=auth, nc={nc_text}, cnonce="c0ffee"'
    else:
        response = _hash(algorithm, f"{ha1}:{nonce}:{ha2}")
    return value + f', response="{response}"'


class Users:
    """An in-memory sip_users table that records lookups."""

    def __init__(self):
        self.lookups = []

    def __call__(self, username, realm, algorithm):
        self.lookups.append((username, realm, algorithm))
        password = PASSWORDS.get(username)
        return None if password is None else compute_ha1(username, realm, password, algorithm)


def make_authenticator(strict_uri=False, **nonce_options):
    nonces = NonceManager(SECRET, random_bytes=lambda n: b"\x07" * n, **nonce_options)
    users = Users()
    return DigestAuthenticator(REALM, nonces, users, strict_uri=strict_uri), nonces, users


def challenge_for(algorithm, nonces, now=NOW):
    return build_challenge(REALM, nonces.issue(now), algorithm)


def test_no_credentials_gets_both_challenges():
    authenticator, _, users = make_authenticator()
    outcome = authenticator.authenticate("REGISTER", URI, [], NOW)
    assert outcome.ok is False and outcome.username is None
    assert outcome.status_hint == 401 and outcome.reason == "no-credentials"
    assert [re.search(r"algorithm=([\w-]+)", c).group(1) for c in outcome.challenges] == [
        "SHA-256", "MD5"]
    assert all(f'realm="{REALM}"' in c and 'qop="auth"' in c for c in outcome.challenges)
    assert users.lookups == []


@pytest.mark.parametrize("algorithm", ["SHA-256", "MD5"])
@pytest.mark.parametrize("use_qop", [True, False])
def test_correct_password_is_accepted(algorithm, use_qop):
    authenticator, nonces, users = make_authenticator()
    header = phone_answer(challenge_for(algorithm, nonces), "alice", "wonderland",
                          use_qop=use_qop)
    outcome = authenticator.authenticate("REGISTER", URI, [header], NOW + 1)
    assert outcome == AuthOutcome(True, "alice", [], 200, "ok")
    assert users.lookups == [("alice", REALM, algorithm)]


def test_user_name_with_domain_is_passed_through():
    authenticator, nonces, users = make_authenticator()
    header = phone_answer(challenge_for("MD5", nonces), "bob@example.com", "builder")
    outcome = authenticator.authenticate("REGISTER", URI, [header], NOW)
    assert outcome.ok and outcome.username == "bob@example.com"
    assert users.lookups == [("bob@example.com", REALM, "MD5")]


@pytest.mark.parametrize("algorithm", ["SHA-256", "MD5"])
def test_unknown_user_and_wrong_password_look_the_same(algorithm, monkeypatch):
    verified = []
    real_verify = auth_module.verify
    monkeypatch.setattr(
        auth_module, "verify", lambda *args: verified.append(args[2]) or real_verify(*args))
    authenticator, nonces, users = make_authenticator()
    challenge = challenge_for(algorithm, nonces)
    wrong_password = phone_answer(challenge, "alice", "guess")
    unknown_user = phone_answer(challenge, "mallory", "guess")

    bad = authenticator.authenticate("REGISTER", URI, [wrong_password], NOW)
    unknown = authenticator.authenticate("REGISTER", URI, [unknown_user], NOW)

    assert (bad.reason, unknown.reason) == ("bad-password", "unknown-user")
    # The claimed names go to the security log only, never on the wire.
    assert (bad.claimed_user, unknown.claimed_user) == ("alice", "mallory")
    assert dataclasses.replace(unknown, reason=bad.reason, claimed_user="alice") == bad
    assert bad.status_hint == 401 and not any("stale" in c for c in bad.challenges)
    # Same work: one lookup and one full verification each, against HA1s of one shape.
    assert len(users.lookups) == 2
    assert len(verified) == 2 and len(verified[0]) == len(verified[1])
    assert verified[1] == authenticator._dummy_ha1("mallory", algorithm)


def test_dummy_ha1_never_accepts_anything():
    authenticator, nonces, _ = make_authenticator()
    header = phone_answer(challenge_for("MD5", nonces), "mallory", "")
    assert authenticator.authenticate("REGISTER", URI, [header], NOW).reason == "unknown-user"


@pytest.mark.parametrize("value", ["NoOneKnowsThisScheme opaque-data=here",
                                   "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="])
def test_unknown_scheme_is_challenged(value):
    authenticator, _, users = make_authenticator()
    outcome = authenticator.authenticate("REGISTER", URI, [value], NOW)
    assert (outcome.ok, outcome.status_hint, outcome.reason) == (False, 401, "unsupported-scheme")
    assert len(outcome.challenges) == 2
    assert users.lookups == []


def test_other_realm_is_challenged_and_ours_is_picked_among_several():
    authenticator, nonces, _ = make_authenticator()
    challenge = challenge_for("SHA-256", nonces)
    other = phone_answer(challenge, "alice", "wonderland", realm="elsewhere.net")
    outcome = authenticator.authenticate("REGISTER", URI, [other], NOW)
    assert (outcome.status_hint, outcome.reason) == (401, "realm-mismatch")
    assert f'realm="{REALM}"' in outcome.challenges[0]

    ours = phone_answer(challenge, "alice", "wonderland")
    values = ["Basic eA==", other, ours]
    assert authenticator.authenticate("REGISTER", URI, values, NOW).ok


@pytest.mark.parametrize("value", [
    'Digest username="alice',
    'Digest username="alice", nonce="n", uri="sip:example.com", response="r"',  # no realm
    'Digest username="alice", realm="example.com", uri="sip:example.com", response="r"',
    'Digest username="alice", realm="example.com", nonce="n", uri="sip:example.com", '
    'response="r", qop=auth, cnonce="c"',  # qop without nc
    'Digest username="alice", realm="example.com", nonce="n", uri="sip:example.com", '
    'response="r", qop=auth, nc=xyz, cnonce="c"',
    'Digest username="alice", realm="example.com", nonce="n", uri="sip:example.com", '
    'response="r", algorithm=MD5-sess',  # session key without cnonce
])
def test_malformed_credentials_get_400(value):
    authenticator, _, users = make_authenticator()
    outcome = authenticator.authenticate("REGISTER", URI, [value], NOW)
    assert outcome == AuthOutcome(False, None, [], 400, "malformed")
    assert users.lookups == []


def test_stale_nonce_with_correct_response_asks_to_retry():
    authenticator, nonces, _ = make_authenticator(lifetime=60.0)
    header = phone_answer(challenge_for("SHA-256", nonces), "alice", "wonderland")
    outcome = authenticator.authenticate("REGISTER", URI, [header], NOW + 61)
    assert (outcome.status_hint, outcome.reason) == (401, "stale-nonce")
    assert all(c.endswith("stale=true") for c in outcome.challenges)

    retry = phone_answer(outcome.challenges[0], "alice", "wonderland")
    assert authenticator.authenticate("REGISTER", URI, [retry], NOW + 61).ok


def test_stale_nonce_with_wrong_password_is_not_flagged_stale():
    authenticator, nonces, _ = make_authenticator(lifetime=60.0)
    header = phone_answer(challenge_for("SHA-256", nonces), "alice", "guess")
    outcome = authenticator.authenticate("REGISTER", URI, [header], NOW + 61)
    assert outcome.reason == "bad-password"
    assert not any("stale" in c for c in outcome.challenges)


def test_replayed_request_is_refused():
    authenticator, nonces, _ = make_authenticator()
    challenge = challenge_for("MD5", nonces)
    first = phone_answer(challenge, "alice", "wonderland", nc=1)
    assert authenticator.authenticate("REGISTER", URI, [first], NOW).ok
    replay = authenticator.authenticate("REGISTER", URI, [first], NOW + 1)
    assert (replay.ok, replay.reason) == (False, "replay")
    second = phone_answer(challenge, "alice", "wonderland", nc=2)
    assert authenticator.authenticate("REGISTER", URI, [second], NOW + 2).ok


def test_failed_attempts_do_not_use_up_nonce_counts():
    authenticator, nonces, _ = make_authenticator()
    challenge = challenge_for("MD5", nonces)
    forged = phone_answer(challenge, "alice", "guess", nc=1)
    assert authenticator.authenticate("REGISTER", URI, [forged], NOW).reason == "bad-password"
    genuine = phone_answer(challenge, "alice", "wonderland", nc=1)
    assert authenticator.authenticate("REGISTER", URI, [genuine], NOW).ok


def test_nonce_from_another_secret_with_correct_response():
    # What every phone sends right after a restart with a new secret.
    authenticator, _, _ = make_authenticator()
    foreign = NonceManager(b"the previous process secret!!").issue(NOW)
    header = phone_answer(build_challenge(REALM, foreign, "SHA-256"), "alice", "wonderland")
    outcome = authenticator.authenticate("REGISTER", URI, [header], NOW)
    assert outcome.reason == "bad-nonce"
    assert all(c.endswith("stale=true") for c in outcome.challenges)


def test_digest_uri_may_differ_from_the_request_uri_by_default():
    authenticator, nonces, _ = make_authenticator()
    header = phone_answer(challenge_for("MD5", nonces), "alice", "wonderland",
                          uri="sip:127.0.0.1:5060")
    assert authenticator.authenticate("REGISTER", URI, [header], NOW).ok


def test_strict_digest_uri_must_match_request_uri():
    authenticator, nonces, users = make_authenticator(strict_uri=True)
    header = phone_answer(challenge_for("MD5", nonces), "alice", "wonderland",
                          uri="sip:other.example.com")
    outcome = authenticator.authenticate("REGISTER", URI, [header], NOW)
    assert (outcome.status_hint, outcome.reason) == (401, "uri-mismatch")
    assert users.lookups == []
    header = phone_answer(challenge_for("MD5", nonces), "alice", "wonderland")
    assert authenticator.authenticate("REGISTER", f"  {URI} ", [header], NOW).ok


def test_method_is_part_of_the_response():
    authenticator, nonces, _ = make_authenticator()
    header = phone_answer(challenge_for("MD5", nonces), "alice", "wonderland", method="INVITE")
    assert authenticator.authenticate("REGISTER", URI, [header], NOW).reason == "bad-password"
    assert authenticator.authenticate("INVITE", URI, [header], NOW).ok


def test_auth_int_and_unknown_algorithms_are_challenged():
    authenticator, nonces, users = make_authenticator()
    header = phone_answer(challenge_for("MD5", nonces), "alice", "wonderland")
    auth_int = header.replace("qop=auth,", "qop=auth-int,")
    assert authenticator.authenticate("REGISTER", URI, [auth_int], NOW).reason == "unsupported-qop"
    other = header.replace("algorithm=MD5", "algorithm=SHA-512-256")
    outcome = authenticator.authenticate("REGISTER", URI, [other], NOW)
    assert (outcome.status_hint, outcome.reason) == (401, "unsupported-algorithm")
    assert users.lookups == []


@pytest.mark.parametrize("offered, answered", [(("SHA-256",), "MD5"), (("MD5",), "SHA-256")])
def test_an_answer_in_an_algorithm_not_offered_is_challenged_again(offered, answered):
    nonces = NonceManager(SECRET, random_bytes=lambda n: b"\x07" * n)
    users = Users()
    authenticator = DigestAuthenticator(REALM, nonces, users, algorithms=offered)
    header = phone_answer(challenge_for(answered, nonces), "alice", "wonderland")
    outcome = authenticator.authenticate("REGISTER", URI, [header], NOW)
    assert (outcome.ok, outcome.reason) == (False, "unsupported-algorithm")
    assert [re.search(r"algorithm=([\w-]+)", c).group(1) for c in outcome.challenges] == \
        list(offered)
    assert users.lookups == []


def test_hashed_user_names_match_no_one():
    authenticator, nonces, users = make_authenticator()
    header = phone_answer(challenge_for("MD5", nonces), "alice", "wonderland",
                          extra=", userhash=true")
    outcome = authenticator.authenticate("REGISTER", URI, [header], NOW)
    assert outcome.reason == "unknown-user"
    assert users.lookups == []


def test_proxy_challenges_with_407():
    nonces = NonceManager(SECRET)
    proxy = DigestAuthenticator(REALM, nonces, Users(), challenge_status=407)
    assert proxy.authenticate("INVITE", "sip:bob@example.com", [], NOW).status_hint == 407
