"""The in-memory snapshot of SIP credentials the registrar authenticates against.

The call path never queries the database: the edge reloads this snapshot on start,
when the admin API writes, and on a timer (several nodes may share one database)."""

_ALGORITHM_KEYS = {"MD5": "md5", "SHA-256": "sha256"}


class CredentialDirectory:
    def __init__(self, domain: str):
        self._domain = domain
        self._entries: dict[tuple[str, str], dict] = {}

    def replace(self, entries: dict[tuple[str, str], dict]) -> None:
        self._entries = entries

    def __len__(self) -> int:
        return len(self._entries)

    def lookup_ha1(self, username: str, realm: str, algorithm: str) -> str | None:
        """The stored HA1 for `username` in our realm (the domain), or None."""
        user = username.partition("@")[0]
        entry = self._entries.get((user, self._domain))
        if entry is None or not entry.get("enabled", True):
            return None
        key = _ALGORITHM_KEYS.get(algorithm)
        return entry.get(key) if key else None
