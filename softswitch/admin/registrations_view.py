"""The admin API's view of the registrations: the registrar's memory, not the
database, which the bindings reach only at the next batched write.

``build_api(registrations=...)`` takes any object with ``list(aor, after, limit)``
(rows by id, those after id ``after`` only, at most ``limit``) and ``get(id)`` (a row
or None), each returning rows or a Deferred of them. ``LiveRegistrations`` is that
object over a services ``LocationService``; ``StoredRegistrations`` reads the table
for an API without a switch behind it.
"""

from softswitch.store import registrations as store


class LiveRegistrations:
    """The location service's unexpired bindings as API rows.

    Bindings carry no id in memory: one is given to each (aor, contact) the first time
    a list shows it, and it stays while the binding lives (refreshes keep it), so
    cursors and ``/v1/registrations/{id}`` work as with stored rows. Ids are the
    running switch's own; they do not survive a restart.
    """

    def __init__(self, location, clock, node: str):
        self._location = location
        self._clock = clock
        self._node = node
        self._ids: dict[tuple[str, str], int] = {}
        self._keys: dict[int, tuple[str, str]] = {}
        self._last_id = 0

    def list(self, aor: str | None, after: int | None, limit: int) -> list[dict]:
        if aor is None:
            bindings = self._location.all_bindings()
        else:
            bindings = self._location.lookup(aor)
        self._forget_gone()
        numbered = sorted(((self._id(b.key), b) for b in bindings), key=lambda pair: pair[0])
        if after is not None:
            numbered = [(i, b) for i, b in numbered if i > after]
        return [self._row(i, b) for i, b in numbered[:limit]]

    def get(self, registration_id: int) -> dict | None:
        key = self._keys.get(registration_id)
        if key is None:
            return None
        binding = self._location.get(*key)
        now = self._clock.seconds()
        if binding is None or binding.expires_at <= now:
            return None
        return self._row(registration_id, binding)

    def _id(self, key: tuple[str, str]) -> int:
        found = self._ids.get(key)
        if found is None:
            self._last_id += 1
            found = self._ids[key] = self._last_id
            self._keys[found] = key
        return found

    def _forget_gone(self) -> None:
        # Ids of bindings that went: kept a while (an id is never reused, so a stale one
        # finds nothing), dropped when they outnumber the live bindings.
        if len(self._ids) <= 2 * len(self._location) + 1024:
            return
        live = {b.key for b in self._location.all_bindings()}
        self._ids = {key: i for key, i in self._ids.items() if key in live}
        self._keys = {i: key for key, i in self._ids.items()}

    def _row(self, registration_id: int, binding) -> dict:
        return {
            "id": registration_id, "aor": binding.aor, "contact": binding.contact,
            "expires_at": binding.expires_at, "q": binding.q,
            "path": list(binding.path) or None, "received": binding.received,
            "user_agent": binding.user_agent, "instance_id": binding.instance_id,
            "reg_id": binding.reg_id, "node": self._node, "call_id": binding.call_id,
            "cseq": binding.cseq,
        }


class StoredRegistrations:
    """An API without a running switch: the bindings written to the database."""

    def __init__(self, database, clock):
        self._database = database
        self._clock = clock

    def list(self, aor: str | None, after: int | None, limit: int):
        return self._database.run("registrations.list", store.list_active,
                                  self._clock.seconds(), aor, after, limit)

    def get(self, registration_id: int):
        return self._database.run("registrations.get", store.get_active, registration_id,
                                  self._clock.seconds())
