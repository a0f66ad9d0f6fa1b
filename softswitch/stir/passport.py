"""PASSporT (RFC 8225) with the SHAKEN extension (RFC 8588): the claims, signed as an
ES256 JWS by PyJWT and read back. Telephone numbers go in the canonical form of
RFC 8224 §8.3 (digits only, no '+')."""

from dataclasses import dataclass

import jwt

ALGORITHM = "ES256"  # the one algorithm SHAKEN allows (ATIS-1000074 §5.3.1)
PPT_SHAKEN = "shaken"
ATTESTATION_LEVELS = ("A", "B", "C")
MAX_TOKEN_LENGTH = 4096  # a SHAKEN PASSporT is about 500 bytes; larger is refused
MAX_DEST_NUMBERS = 16  # dest.tn entries read (RFC 8225 allows an array)
VISUAL_SEPARATORS = str.maketrans("", "", "-.() ")


class PassportError(ValueError):
    """A PASSporT that cannot be read or is not a SHAKEN one; str() says why."""


@dataclass(frozen=True, slots=True)
class Passport:
    """The claims and protected header fields the verifier uses."""

    orig_tn: str
    dest_tns: tuple[str, ...]
    iat: int
    x5u: str
    ppt: str | None = None
    attest: str | None = None  # RFC 8588: A, B or C (None: not a SHAKEN PASSporT)
    origid: str | None = None


def canonical_tn(number: str) -> str | None:
    """RFC 8224 §8.3: the digits of a telephone number, without '+' or visual
    separators; None when what remains is not 1 to 15 digits."""
    digits = number.translate(VISUAL_SEPARATORS).removeprefix("+")
    if not digits.isdigit() or not 1 <= len(digits) <= 15 or not digits.isascii():
        return None
    return digits


def shaken_claims(attest: str, orig_tn: str, dest_tn: str, iat: int, origid: str) -> dict:
    """The payload of a SHAKEN PASSporT, keys in the lexicographic order RFC 8225 §9
    asks for."""
    if attest not in ATTESTATION_LEVELS:
        raise ValueError(f"attestation must be one of {ATTESTATION_LEVELS}")
    orig, dest = canonical_tn(orig_tn), canonical_tn(dest_tn)
    if orig is None or dest is None:
        raise ValueError("orig and dest must be telephone numbers")
    return {"attest": attest, "dest": {"tn": [dest]}, "iat": int(iat),
            "orig": {"tn": orig}, "origid": origid}


def encode_passport(claims: dict, private_key, x5u: str) -> str:
    """The compact JWS of `claims` signed with `private_key` (an EC P-256 key of
    `cryptography`), header {alg, ppt, typ, x5u}."""
    return jwt.encode(claims, private_key, algorithm=ALGORITHM,
                      headers={"ppt": PPT_SHAKEN, "typ": "passport", "x5u": x5u})


def read_passport(token: str) -> Passport:
    """The header and claims of a PASSporT, its signature not checked (the x5u it
    names gives the key): PassportError for anything not a usable PASSporT."""
    if len(token) > MAX_TOKEN_LENGTH:
        raise PassportError("PASSporT too long")
    try:
        decoded = jwt.decode_complete(token, options={"verify_signature": False})
        header, payload = decoded["header"], decoded["payload"]
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise PassportError(f"unreadable PASSporT: {exc}") from None
    return passport_from(header, payload)


def passport_from(header: dict, payload: dict) -> Passport:
    if header.get("typ") != "passport":
        raise PassportError("typ is not passport")
    if header.get("alg") != ALGORITHM:
        raise PassportError(f"alg {header.get('alg')!r} is not {ALGORITHM}")
    x5u = header.get("x5u")
    if not isinstance(x5u, str) or not x5u:
        raise PassportError("no x5u")
    ppt = header.get("ppt")
    if ppt is not None and not isinstance(ppt, str):
        raise PassportError("ppt is not a string")
    iat = payload.get("iat")
    # RFC 8225 §5.1.1: a NumericDate, a JSON number (not the string of one).
    if isinstance(iat, bool) or not isinstance(iat, (int, float)):
        raise PassportError("iat is not a number")
    orig = _tn(payload.get("orig"), "orig")
    dest = payload.get("dest")
    if not isinstance(dest, dict):
        raise PassportError("no dest")
    tns = dest.get("tn", [])
    if not isinstance(tns, list) or not all(isinstance(t, str) for t in tns):
        raise PassportError("dest tn is not a list of numbers")
    dest_tns = tuple(filter(None, (canonical_tn(t) for t in tns[:MAX_DEST_NUMBERS])))
    uris = dest.get("uri", [])
    if not dest_tns and not (isinstance(uris, list) and uris):
        raise PassportError("dest names no number or URI")
    attest = payload.get("attest")
    origid = payload.get("origid")
    if ppt == PPT_SHAKEN:
        if attest not in ATTESTATION_LEVELS:
            raise PassportError("SHAKEN PASSporT without a valid attest")
        if not isinstance(origid, str) or not origid:
            raise PassportError("SHAKEN PASSporT without origid")
    else:
        attest, origid = None, None
    return Passport(orig, dest_tns, int(iat), x5u, ppt, attest, origid)


def _tn(value, name: str) -> str:
    if not isinstance(value, dict) or not isinstance(value.get("tn"), str):
        raise PassportError(f"{name} has no tn")
    tn = canonical_tn(value["tn"])
    if tn is None:
        raise PassportError(f"{name} tn is not a telephone number")
    return tn


