"""Registration write-through: batched upserts, deletes, reload and purge."""

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from softswitch.store import registrations as bindings
from softswitch.store.tables import registrations


def binding(aor="sip:alice@example.com", contact="sip:alice@192.0.2.10:5060", **fields):
    return {
        "aor": aor,
        "contact": contact,
        "expires_at": 2000.0,
        "call_id": "a84b4c76e66710",
        "cseq": 1,
        "node": "node-1",
        **fields,
    }


def stored(conn) -> dict:
    rows = conn.execute(sa.select(registrations)).mappings()
    return {(row["aor"], row["contact"]): dict(row) for row in rows}


def test_insert_then_refresh_keeps_one_row(engine):
    full = binding(
        q=0.5, path=["<sip:edge.example;lr>"], received="udp:203.0.113.7:41000",
        user_agent="Zoiper", instance_id="<urn:uuid:00000000-0000-1000-8000-000a95a0e128>",
        reg_id=1,
    )
    with engine.begin() as conn:
        assert bindings.upsert_bindings(conn, [full], now=100.0) == 1
    with engine.begin() as conn:
        refreshed = binding(expires_at=3000.0, cseq=2, node="node-2")
        bindings.upsert_bindings(conn, [refreshed], now=160.0)
        rows = stored(conn)
    assert list(rows) == [("sip:alice@example.com", "sip:alice@192.0.2.10:5060")]
    row = rows["sip:alice@example.com", "sip:alice@192.0.2.10:5060"]
    assert row["expires_at"] == 3000.0 and row["cseq"] == 2 and row["node"] == "node-2"
    assert row["created_at"] == 100.0 and row["updated_at"] == 160.0
    # A refresh replaces the whole binding: fields it no longer has are cleared.
    assert row["path"] is None and row["q"] is None and row["reg_id"] is None


def test_optional_fields_round_trip(engine):
    full = binding(q=0.7, path=["<sip:a;lr>", "<sip:b;lr>"], received="tcp:198.51.100.2:5061")
    with engine.begin() as conn:
        bindings.upsert_bindings(conn, [full])
        [row] = bindings.load_active(conn, now=0.0)
    assert {key: row[key] for key in full} == full


def test_absent_path_is_sql_null_not_json_null(engine):
    with engine.begin() as conn:
        bindings.upsert_bindings(conn, [binding()])
        nulls = conn.execute(
            sa.select(sa.func.count()).where(registrations.c.path.is_(None))
        ).scalar()
    assert nulls == 1


def test_the_last_row_for_a_binding_in_a_batch_wins(engine):
    with engine.begin() as conn:
        written = bindings.upsert_bindings(
            conn, [binding(cseq=1), binding(cseq=3), binding(cseq=2)]
        )
        [row] = bindings.load_active(conn, now=0.0)
    assert written == 1 and row["cseq"] == 2


def test_a_large_batch_in_one_call(engine):
    batch = [
        binding(aor=f"sip:user{i}@example.com", contact=f"sip:user{i}@192.0.2.{i % 250}:5060")
        for i in range(3000)
    ]
    with engine.begin() as conn:
        assert bindings.upsert_bindings(conn, batch) == 3000
        assert bindings.upsert_bindings(conn, batch) == 3000
        assert len(bindings.load_active(conn, now=0.0)) == 3000
        bindings.delete_bindings(conn, [(b["aor"], b["contact"]) for b in batch[:1000]])
        assert len(bindings.load_active(conn, now=0.0)) == 2000


def test_delete_bindings_and_delete_aor(engine):
    with engine.begin() as conn:
        bindings.upsert_bindings(conn, [
            binding(contact="sip:a@1"), binding(contact="sip:a@2"),
            binding(aor="sip:bob@example.com", contact="sip:b@1"),
        ])
        bindings.delete_bindings(conn, [
            ("sip:alice@example.com", "sip:a@1"), ("sip:nobody@example.com", "sip:x"),
        ])
        assert set(stored(conn)) == {
            ("sip:alice@example.com", "sip:a@2"), ("sip:bob@example.com", "sip:b@1"),
        }
        assert bindings.delete_aor(conn, "sip:alice@example.com") == 1
        assert set(stored(conn)) == {("sip:bob@example.com", "sip:b@1")}
        bindings.delete_bindings(conn, [])  # nothing to do is fine
        assert bindings.upsert_bindings(conn, []) == 0


def test_load_active_and_purge_expired(engine):
    with engine.begin() as conn:
        bindings.upsert_bindings(conn, [
            binding(contact="sip:old", expires_at=100.0),
            binding(contact="sip:edge", expires_at=200.0),
            binding(contact="sip:new", expires_at=300.0),
        ])
        active = bindings.load_active(conn, now=200.0)
        assert [row["contact"] for row in active] == ["sip:new"]
        assert bindings.purge_expired(conn, now=200.0) == 2
        assert set(stored(conn)) == {("sip:alice@example.com", "sip:new")}


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"cseq": None}, "missing cseq"),
        ({"expires": 3600}, "unknown fields expires"),
    ],
)
def test_malformed_bindings_are_refused(engine, bad, message):
    with engine.begin() as conn, pytest.raises(ValueError, match=message):
        bindings.upsert_bindings(conn, [{**binding(), **bad}])


keys = st.tuples(st.sampled_from(["sip:a@x", "sip:b@x"]), st.sampled_from(["c1", "c2", "c3"]))
operations = st.lists(
    st.one_of(
        st.tuples(st.just("upsert"), st.lists(st.tuples(keys, st.integers(1, 9)), max_size=5)),
        st.tuples(st.just("delete"), st.lists(keys, max_size=3)),
        st.tuples(st.just("delete_aor"), st.sampled_from(["sip:a@x", "sip:b@x"])),
        st.tuples(st.just("purge"), st.integers(1, 9)),
    ),
    max_size=8,
)


@settings(
    max_examples=25, deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(operations)
def test_store_behaves_like_a_dict_of_bindings(engine, ops):
    model = {}  # (aor, contact) -> expires_at
    with engine.begin() as conn:
        conn.execute(registrations.delete())
        for op, arg in ops:
            if op == "upsert":
                rows = [binding(aor=k[0], contact=k[1], expires_at=float(e)) for k, e in arg]
                bindings.upsert_bindings(conn, rows)
                model.update({k: float(e) for k, e in arg})
            elif op == "delete":
                bindings.delete_bindings(conn, arg)
                for key in arg:
                    model.pop(key, None)
            elif op == "delete_aor":
                bindings.delete_aor(conn, arg)
                model = {k: e for k, e in model.items() if k[0] != arg}
            else:
                bindings.purge_expired(conn, float(arg))
                model = {k: e for k, e in model.items() if e > arg}
        loaded = bindings.load_active(conn, now=0.0)
    assert {(r["aor"], r["contact"]): r["expires_at"] for r in loaded} == model
    assert [(r["aor"], r["contact"]) for r in loaded] == sorted(model)
