"""The header table (one row per header: canonical name, compact form, list-valued)
and the Headers container that keeps fields as received and parses on demand."""

from collections.abc import Iterator

from .errors import RemoteProtocolError
from .syntax import split_list

# canonical name, compact form, comma-separated list allowed (RFC 3261 §7.3.1)
HEADER_TABLE: tuple[tuple[str, str | None, bool], ...] = (
    ("Accept", None, True),
    ("Accept-Contact", "a", True),
    ("Accept-Encoding", None, True),
    ("Accept-Language", None, True),
    ("Alert-Info", None, True),
    ("Allow", None, True),
    ("Allow-Events", "u", True),
    ("Authorization", None, False),
    ("Call-ID", "i", False),
    ("Call-Info", None, True),
    ("Contact", "m", True),
    ("Content-Disposition", None, False),
    ("Content-Encoding", "e", True),
    ("Content-Language", None, True),
    ("Content-Length", "l", False),
    ("Content-Type", "c", False),
    ("CSeq", None, False),
    ("Date", None, False),
    ("Error-Info", None, True),
    ("Event", "o", False),
    ("Expires", None, False),
    ("From", "f", False),
    ("Identity", "y", False),
    ("In-Reply-To", None, True),
    ("Max-Forwards", None, False),
    ("Min-Expires", None, False),
    ("MIME-Version", None, False),
    ("Organization", None, False),
    ("P-Asserted-Identity", None, True),
    ("Path", None, True),
    ("Priority", None, False),
    ("Proxy-Authenticate", None, False),
    ("Proxy-Authorization", None, False),
    ("Proxy-Require", None, True),
    ("RAck", None, False),
    ("Reason", None, True),
    ("Record-Route", None, True),
    ("Refer-To", "r", False),
    ("Referred-By", "b", False),
    ("Reject-Contact", "j", True),
    ("Reply-To", None, False),
    ("Request-Disposition", "d", True),
    ("Require", None, True),
    ("Retry-After", None, False),
    ("Route", None, True),
    ("RSeq", None, False),
    ("Server", None, False),
    ("Session-Expires", "x", False),
    ("Subject", "s", False),
    ("Subscription-State", None, False),
    ("Supported", "k", True),
    ("Timestamp", None, False),
    ("To", "t", False),
    ("Unsupported", None, True),
    ("User-Agent", None, False),
    ("Via", "v", True),
    ("Warning", None, True),
    ("WWW-Authenticate", None, False),
)

CANONICAL: dict[str, str] = {}
COMPACT: dict[str, str] = {}  # canonical name -> compact form (RFC 3261 §7.3.3)
LIST_HEADERS: frozenset[str]
_list = set()
for _name, _compact, _is_list in HEADER_TABLE:
    CANONICAL[_name.lower()] = _name
    if _compact:
        CANONICAL[_compact] = _name
        COMPACT[_name] = _compact
    if _is_list:
        _list.add(_name)
LIST_HEADERS = frozenset(_list)
# Headers that must appear at most once in a request (RFC 3261 §20; RFC 4475 §3.3.8).
SINGLE_HEADERS = frozenset(
    ("Call-ID", "Content-Length", "Content-Type", "CSeq", "From", "Max-Forwards", "To")
)


# Spellings seen so far -> key. Bounded, so a peer inventing header names cannot grow it.
_KEY_CACHE: dict[str, str] = {}
_KEY_CACHE_SIZE = 2048


def canonical_name(name: str) -> str:
    """Map any spelling ('v', 'VIA', 'x-foo') to the key fields are indexed by."""
    key = _KEY_CACHE.get(name)
    if key is None:
        lowered = name.lower()
        key = CANONICAL.get(lowered, lowered)
        if len(_KEY_CACHE) < _KEY_CACHE_SIZE:
            _KEY_CACHE[name] = key
    return key


for _name, _compact, _is_list in HEADER_TABLE:
    for _spelling in (_name, _name.lower(), _compact, _compact.upper() if _compact else None):
        if _spelling:
            canonical_name(_spelling)


def compact_form(name: str) -> str | None:
    """The compact form of a header name in any spelling ('Via', 'v' -> 'v'), if any."""
    return COMPACT.get(canonical_name(name))


class Headers:
    """Header fields in wire order; each field is [key, name-as-sent, value]."""

    __slots__ = ("_fields",)

    def __init__(self, fields: list[list[str]] | None = None):
        self._fields = fields if fields is not None else []

    @classmethod
    def from_pairs(cls, pairs) -> "Headers":
        return cls([[canonical_name(n), n, v] for n, v in pairs])

    def get(self, name: str, default: str | None = None) -> str | None:
        key = canonical_name(name)
        for f in self._fields:
            if f[0] == key:
                return f[2]
        return default

    def values(self, name: str) -> list[str]:
        """Raw field values, one per header line."""
        key = canonical_name(name)
        return [f[2] for f in self._fields if f[0] == key]

    def get_list(self, name: str) -> list[str]:
        """Elements of a list header across all its lines, split at commas."""
        key = canonical_name(name)
        out: list[str] = []
        for f in self._fields:
            if f[0] == key:
                try:
                    out.extend(split_list(f[2]))
                except RemoteProtocolError as exc:
                    raise _naming(exc, f[1]) from None
        return out

    def count(self, name: str) -> int:
        key = canonical_name(name)
        return sum(1 for f in self._fields if f[0] == key)

    def __contains__(self, name: str) -> bool:
        key = canonical_name(name)
        return any(f[0] == key for f in self._fields)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return ((f[1], f[2]) for f in self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def add(self, name: str, value: str, *, first: bool = False) -> None:
        field = [canonical_name(name), name, value]
        if first:
            self._fields.insert(0, field)
        else:
            self._fields.append(field)

    def insert_before(self, name: str, value: str) -> None:
        """Add a field just before the first field of the same name (new top Via)."""
        key = canonical_name(name)
        for i, f in enumerate(self._fields):
            if f[0] == key:
                self._fields.insert(i, [key, name, value])
                return
        self._fields.append([key, name, value])

    def set(self, name: str, value: str) -> None:
        """Replace every field of this name by one, kept at the first one's place."""
        key = canonical_name(name)
        for i, f in enumerate(self._fields):
            if f[0] == key:
                f[2] = value
                self._fields[i + 1 :] = [g for g in self._fields[i + 1 :] if g[0] != key]
                return
        self._fields.append([key, name, value])

    def remove(self, name: str) -> None:
        key = canonical_name(name)
        self._fields = [f for f in self._fields if f[0] != key]

    def pop_first(self, name: str) -> str | None:
        """Remove and return the first element of a list header (top Via, top Route)."""
        key = canonical_name(name)
        for i, f in enumerate(self._fields):
            if f[0] == key:
                try:
                    elements = split_list(f[2])
                except RemoteProtocolError as exc:
                    raise _naming(exc, f[1]) from None
                if len(elements) <= 1:
                    del self._fields[i]
                else:
                    f[2] = ", ".join(elements[1:])
                return elements[0] if elements else None
        return None

    def replace_first(self, name: str, value: str) -> None:
        """Replace the first element of a list header (rewrite the top Via)."""
        key = canonical_name(name)
        for f in self._fields:
            if f[0] == key:
                try:
                    elements = split_list(f[2])
                except RemoteProtocolError as exc:
                    raise _naming(exc, f[1]) from None
                if not elements:
                    raise RemoteProtocolError(f"empty {f[1]} header")
                elements[0] = value
                f[2] = ", ".join(elements)
                return
        raise KeyError(name)

    def copy(self) -> "Headers":
        return Headers([list(f) for f in self._fields])

    def check_single(self) -> None:
        seen = set()
        for f in self._fields:
            key = f[0]
            if key in SINGLE_HEADERS:
                if key in seen:
                    raise RemoteProtocolError(f"more than one {key} header")
                seen.add(key)


def _naming(exc: RemoteProtocolError, name: str) -> RemoteProtocolError:
    """The same error with the header it was found in (for the Warning of the 400)."""
    return RemoteProtocolError(f"{name}: {exc}", exc.status_hint)
