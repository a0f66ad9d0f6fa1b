"""Bindings read back from the registrations table (edge.storage.bindings.bindings_from_rows)."""

from softswitch.edge.storage.bindings import bindings_from_rows

INSTANCE = "<urn:uuid:00000000-0000-1000-8000-000a95a0e128>"


def row(instance_id):
    return {"id": 7, "aor": "sip:alice@example.com", "contact": "sip:alice@192.0.2.10",
            "expires_at": 1e9, "q": None, "call_id": "c", "cseq": 1, "received": None,
            "path": None, "user_agent": None, "instance_id": instance_id, "reg_id": None,
            "node": "n1", "created_at": 1.0, "updated_at": 1.0}


def test_instance_ids_stored_with_their_quotes_by_earlier_versions_come_back_without():
    rows = [row(f'"{INSTANCE}"'), row(INSTANCE), row(None), row('"<a"b>"'), row("junk")]
    assert [b.instance_id for b in bindings_from_rows(rows)] == [
        INSTANCE, INSTANCE, None, None, None]
