"""Secrets at rest: trunk passwords and agent secret headers are sealed with Fernet
(AES-128-CBC + HMAC-SHA256, `cryptography`) before they are written, and opened when
the switch reads them to use them.

- A sealed password is the text "fernet:" + token; sealed secret headers are the JSON
  object {"$fernet": token, "$names": [names]} (names are not secret: the API shows
  them), so no column changes type.
- The box travels with the engine as the execution option "secret_box"
  (Database(secret_box=...)); store code finds it with `box_of(conn)`. Without a box,
  values are written as given and sealed values cannot be opened (SecretKeyMissing).
- Values written in clear (before 0003, or by a tool without the key) are read as
  they are and sealed by `seal_clear_rows` (migration 0003, then every start).
- Several keys (comma-separated) may be given: the first seals, any opens, and
  `seal_clear_rows` re-seals with the first what an older one sealed (rotation).
"""

import json
import os
from pathlib import Path

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy.engine import Connection

PREFIX = "fernet:"
TOKEN_KEY = "$fernet"
NAMES_KEY = "$names"
OPTION = "secret_box"


class SecretKeyMissing(Exception):
    """A sealed secret was read without a key, or with a key that did not seal it."""


class SecretBox:
    def __init__(self, keys: str | bytes):
        if isinstance(keys, bytes):
            keys = keys.decode("ascii")
        parts = [k.strip() for k in keys.split(",") if k.strip()]
        if not parts:
            raise ValueError("no key given")
        try:
            fernets = [Fernet(k.encode("ascii")) for k in parts]
        except (ValueError, UnicodeEncodeError):
            raise ValueError("a secrets key must be 32 url-safe base64-encoded bytes "
                             "(Fernet.generate_key())") from None
        self._primary = fernets[0]
        self._fernet = MultiFernet(fernets)

    def is_current(self, sealed: str) -> bool:
        """Whether the first key sealed it (else it is re-sealed at the next start)."""
        try:
            self._primary.decrypt(sealed[len(PREFIX):].encode("ascii"))
        except InvalidToken:
            return False
        return True

    def seal(self, text: str) -> str:
        return PREFIX + self._fernet.encrypt(text.encode("utf-8")).decode("ascii")

    def open(self, sealed: str) -> str:
        try:
            return self._fernet.decrypt(sealed[len(PREFIX):].encode("ascii")).decode("utf-8")
        except InvalidToken:
            raise SecretKeyMissing(
                "a stored secret was sealed with another key: every node must have the "
                "same [database] secrets_key") from None

    def seal_headers(self, headers: dict) -> dict:
        return {TOKEN_KEY: self.seal(_json_text(headers))[len(PREFIX):],
                NAMES_KEY: sorted(headers)}

    def open_headers(self, sealed: dict) -> dict:
        return json.loads(self.open(PREFIX + sealed[TOKEN_KEY]))


def _json_text(value) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def box_of(conn: Connection) -> SecretBox | None:
    return conn.get_execution_options().get(OPTION)


def is_sealed(value) -> bool:
    if isinstance(value, str):
        return value.startswith(PREFIX)
    return isinstance(value, dict) and TOKEN_KEY in value


# -- what the store modules call ---------------------------------------------------------
def seal_password(conn: Connection, password: str | None) -> str | None:
    box = box_of(conn)
    if box is None or password is None or is_sealed(password):
        return password
    return box.seal(password)


def open_password(conn: Connection, stored: str | None) -> str | None:
    if stored is None or not is_sealed(stored):
        return stored
    return _required(conn).open(stored)


def seal_headers(conn: Connection, headers: dict) -> dict:
    box = box_of(conn)
    if box is None or not headers or is_sealed(headers):
        return headers
    return box.seal_headers(headers)


def open_headers(conn: Connection, stored: dict) -> dict:
    if not is_sealed(stored):
        return stored
    return _required(conn).open_headers(stored)


def header_names(stored: dict) -> list[str]:
    """The secret header names, sealed or not, without the key."""
    if is_sealed(stored):
        return sorted(stored.get(NAMES_KEY, ()))
    return sorted(stored)


def _required(conn: Connection) -> SecretBox:
    box = box_of(conn)
    if box is None:
        raise SecretKeyMissing("a stored secret is sealed and no secrets key is configured")
    return box


# -- sealing what is still in clear ------------------------------------------------------
def seal_clear_rows(conn: Connection, box: SecretBox) -> int:
    """Seal every trunk password, trunk TLS client key given as PEM and agent secret
    headers still stored in clear, and
    re-seal with the first key those an older key sealed; the number of rows written.
    Safe to run at every start."""
    trunks = sa.table("trunks", sa.column("id"), sa.column("auth_password"))
    agents = sa.table("agents", sa.column("id"), sa.column("secret_headers", sa.JSON))
    count = 0
    rows = conn.execute(sa.select(trunks.c.id, trunks.c.auth_password)
                        .where(trunks.c.auth_password.is_not(None))).all()
    for row in rows:
        value = row.auth_password
        if is_sealed(value):
            if box.is_current(value):
                continue
            value = box.open(value)
        conn.execute(trunks.update().where(trunks.c.id == row.id)
                     .values(auth_password=box.seal(value)))
        count += 1
    count += _seal_client_keys(conn, box)
    for row in conn.execute(sa.select(agents.c.id, agents.c.secret_headers)).all():
        value = row.secret_headers
        if not value:
            continue
        if is_sealed(value):
            if box.is_current(PREFIX + value[TOKEN_KEY]):
                continue
            value = box.open_headers(value)
        conn.execute(agents.update().where(agents.c.id == row.id)
                     .values(secret_headers=box.seal_headers(value)))
        count += 1
    return count


def _client_keys(conn: Connection):
    """The trunks' TLS client key column (0005), or None before it exists."""
    columns = {c["name"] for c in sa.inspect(conn).get_columns("trunks")}
    if "tls_client_key" not in columns:
        return None
    return sa.table("trunks", sa.column("id"), sa.column("tls_client_key"))


def _seal_client_keys(conn: Connection, box: SecretBox) -> int:
    """Trunk TLS client keys given as PEM (a file path stays as it is)."""
    trunks = _client_keys(conn)
    if trunks is None:
        return 0
    count = 0
    for row in conn.execute(sa.select(trunks.c.id, trunks.c.tls_client_key)
                            .where(trunks.c.tls_client_key.is_not(None))).all():
        value = row.tls_client_key
        if is_sealed(value):
            if box.is_current(value):
                continue
            value = box.open(value)
        elif not value.startswith("-----BEGIN"):
            continue
        conn.execute(trunks.update().where(trunks.c.id == row.id)
                     .values(tls_client_key=box.seal(value)))
        count += 1
    return count


def open_sealed_rows(conn: Connection, box: SecretBox) -> int:
    """The reverse of seal_clear_rows (a downgrade below 0003)."""
    trunks = sa.table("trunks", sa.column("id"), sa.column("auth_password"))
    agents = sa.table("agents", sa.column("id"), sa.column("secret_headers", sa.JSON))
    count = 0
    for row in conn.execute(sa.select(trunks.c.id, trunks.c.auth_password)).all():
        if is_sealed(row.auth_password):
            conn.execute(trunks.update().where(trunks.c.id == row.id)
                         .values(auth_password=box.open(row.auth_password)))
            count += 1
    for row in conn.execute(sa.select(agents.c.id, agents.c.secret_headers)).all():
        if is_sealed(row.secret_headers):
            conn.execute(agents.update().where(agents.c.id == row.id)
                         .values(secret_headers=box.open_headers(row.secret_headers)))
            count += 1
    return count


def check_key(conn: Connection, box: SecretBox) -> None:
    """Raise SecretKeyMissing unless `box` opens the sealed values stored."""
    trunks = sa.table("trunks", sa.column("auth_password"))
    agents = sa.table("agents", sa.column("secret_headers", sa.JSON))
    for (value,) in conn.execute(sa.select(trunks.c.auth_password)):
        if is_sealed(value):
            box.open(value)
    keys = _client_keys(conn)
    if keys is not None:
        for (value,) in conn.execute(sa.select(keys.c.tls_client_key)):
            if is_sealed(value):
                box.open(value)
    for (value,) in conn.execute(sa.select(agents.c.secret_headers)):
        if is_sealed(value):
            box.open_headers(value)


def count_sealed_rows(conn: Connection) -> int:
    trunks = sa.table("trunks", sa.column("auth_password"))
    agents = sa.table("agents", sa.column("secret_headers", sa.JSON))
    sealed = sum(1 for (value,) in conn.execute(sa.select(trunks.c.auth_password))
                 if is_sealed(value))
    return sealed + sum(1 for (value,) in conn.execute(sa.select(agents.c.secret_headers))
                        if is_sealed(value))


# -- the key ------------------------------------------------------------------------------
def load_or_create_key_file(path: str | os.PathLike) -> tuple[str, bool]:
    """The key in `path`; a new one written there (mode 0600) when the file does not
    exist. Returns (key, created)."""
    path = Path(path)
    try:
        return path.read_text().strip(), False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it meanwhile
        return path.read_text().strip(), False
    with os.fdopen(fd, "wb") as f:
        f.write(key + b"\n")
    return key.decode("ascii"), True
