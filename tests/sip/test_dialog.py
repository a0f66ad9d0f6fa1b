"""Dialogs (RFC 3261 §12): creation as UAS and UAC, requests inside them with loose
and strict routing, checks on incoming requests, and the bounded table with its
linger, driven by a Clock."""

import pytest
from twisted.internet.task import Clock

from softswitch.sip.dialog import (
    CONFIRMED,
    EARLY,
    TERMINATED,
    Dialog,
    DialogId,
    DialogTable,
    DialogTableFull,
)
from softswitch.sip.errors import RemoteProtocolError
from softswitch.sip.message import parse_message

VIA = "SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKours"


def message(text: str):
    data = text.replace("\r\n", "\n").replace("\n", "\r\n").encode()
    return parse_message(data)


INVITE = message(
    "INVITE sip:bob@192.0.2.1 SIP/2.0\n"
    "Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKinv\n"
    "Record-Route: <sip:p2.example.com;lr>\n"
    "Record-Route: <sip:p1.example.com;lr>\n"
    "Max-Forwards: 69\n"
    "From: \"Alice\" <sip:alice@example.com>;tag=a1\n"
    "To: <sip:bob@example.com>\n"
    "Call-ID: c1@example.com\n"
    "CSeq: 314 INVITE\n"
    "Contact: <sip:alice@198.51.100.7:5060>\n"
    "Content-Length: 0\n\n")


def response(status: int, *, contact="sip:bob@203.0.113.9:5062", record_route=(),
             tag="b1", cseq="1 INVITE"):
    lines = [f"SIP/2.0 {status} Whatever", f"Via: {VIA}"]
    lines += [f"Record-Route: {value}" for value in record_route]
    lines += ["From: <sip:alice@example.com>;tag=a1", f"To: <sip:bob@example.com>;tag={tag}",
              "Call-ID: c2@example.com", f"CSeq: {cseq}"]
    if contact:
        lines.append(f"Contact: <{contact}>")
    return message("\n".join(lines + ["Content-Length: 0", "", ""]))


OUR_INVITE = message(
    "INVITE sip:bob@example.com SIP/2.0\n"
    f"Via: {VIA}\nMax-Forwards: 70\n"
    "From: <sip:alice@example.com>;tag=a1\nTo: <sip:bob@example.com>\n"
    "Call-ID: c2@example.com\nCSeq: 1 INVITE\nContact: <sip:alice@192.0.2.1>\n"
    "Content-Length: 0\n\n")


def test_a_uas_dialog_takes_record_route_in_order_and_the_callers_contact():
    dialog = Dialog.as_uas(INVITE, "b9")
    assert dialog.id == DialogId("c1@example.com", "b9", "a1")
    assert dialog.state == CONFIRMED and not dialog.secure
    assert dialog.route_set == ("<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>")
    assert dialog.remote_target == "sip:alice@198.51.100.7:5060"
    assert (dialog.local_cseq, dialog.remote_cseq) == (None, 314)
    bye = dialog.create_request("BYE", VIA)
    assert bye.to_bytes() == (
        b"BYE sip:alice@198.51.100.7:5060 SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKours\r\n"
        b"Route: <sip:p2.example.com;lr>\r\n"
        b"Route: <sip:p1.example.com;lr>\r\n"
        b"Max-Forwards: 70\r\n"
        b"From: <sip:bob@example.com>;tag=b9\r\n"
        b"To: \"Alice\" <sip:alice@example.com>;tag=a1\r\n"
        b"Call-ID: c1@example.com\r\n"
        b"CSeq: 1 BYE\r\n"
        b"Content-Length: 0\r\n\r\n")


def test_a_uac_dialog_is_early_on_a_tagged_1xx_and_the_2xx_sets_its_routes_and_target():
    early = Dialog.as_uac(OUR_INVITE, response(180, contact="sip:bob@203.0.113.9:5099",
                                               record_route=["<sip:p1;lr>"]))
    assert early.state == EARLY and early.route_set == ("<sip:p1;lr>",)
    early.confirm(response(200, record_route=["<sip:p2;lr>", "<sip:p1;lr>"]))
    assert early.state == CONFIRMED
    assert early.route_set == ("<sip:p1;lr>", "<sip:p2;lr>")  # reversed (§12.1.2)
    assert early.remote_target == "sip:bob@203.0.113.9:5062"
    ack = early.create_request("ACK", VIA, cseq=OUR_INVITE.cseq.number)
    assert (ack.uri, ack.cseq.number, ack.cseq.method) == ("sip:bob@203.0.113.9:5062", 1, "ACK")
    bye = early.create_request("BYE", VIA)
    assert bye.cseq.number == 2 and early.local_cseq == 2
    assert bye.headers.get("From") == "<sip:alice@example.com>;tag=a1"
    assert bye.headers.get("To") == "<sip:bob@example.com>;tag=b1"
    with pytest.raises(RemoteProtocolError):
        Dialog.as_uac(OUR_INVITE, response(100, tag=""))


def test_a_2xx_without_contact_keeps_the_request_uri_as_target():
    dialog = Dialog.as_uac(OUR_INVITE, response(200, contact=None))
    assert dialog.remote_target == "sip:bob@example.com"


def test_a_strict_router_first_in_the_route_set_gets_the_request_uri():
    dialog = Dialog.as_uac(OUR_INVITE, response(
        200, record_route=["<sip:p2.example.com;lr>", "<sip:p1.example.com;method=INVITE>"]))
    uri, routes = dialog.request_target()
    assert uri == "sip:p1.example.com"
    assert routes == ("<sip:p2.example.com;lr>", "<sip:bob@203.0.113.9:5062>")
    info = dialog.create_request("INFO", VIA)
    assert info.uri == "sip:p1.example.com"
    assert info.headers.values("Route") == list(routes)


def test_requests_received_check_cseq_refresh_the_target_and_bye_terminates():
    dialog = Dialog.as_uas(INVITE, "b9")
    reinvite = message(INVITE.to_bytes().decode()
                       .replace("To: <sip:bob@example.com>", "To: <sip:bob@example.com>;tag=b9")
                       .replace("314 INVITE", "315 INVITE")
                       .replace("alice@198.51.100.7:5060", "alice@198.51.100.8:5070"))
    dialog.request_received(reinvite)
    assert dialog.remote_cseq == 315 and dialog.remote_target == "sip:alice@198.51.100.8:5070"
    stale = message(reinvite.to_bytes().decode().replace("315 INVITE", "300 INFO")
                    .replace("INVITE sip:", "INFO sip:"))
    with pytest.raises(RemoteProtocolError) as caught:
        dialog.request_received(stale)
    assert caught.value.status_hint == 500
    ack = message(reinvite.to_bytes().decode().replace("315 INVITE", "315 ACK")
                  .replace("INVITE sip:", "ACK sip:"))
    dialog.request_received(ack)
    assert dialog.remote_cseq == 315 and dialog.state == CONFIRMED
    bye = message(ack.to_bytes().decode().replace("315 ACK", "316 BYE")
                  .replace("ACK sip:", "BYE sip:"))
    dialog.request_received(bye)
    assert dialog.state == TERMINATED


def test_a_sips_request_uri_makes_the_dialog_secure():
    secure = message(INVITE.to_bytes().decode().replace("INVITE sip:bob", "INVITE sips:bob"))
    assert Dialog.as_uas(secure, "b9").secure


def test_the_table_matches_by_call_id_and_both_tags_and_is_bounded():
    table: DialogTable[str] = DialogTable(max_dialogs=1)
    dialog = Dialog.as_uas(INVITE, "b9")
    table.add(dialog, "owner")
    bye = message("BYE sip:bob@192.0.2.1 SIP/2.0\n"
                  "Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKbye\nMax-Forwards: 70\n"
                  "From: <sip:alice@example.com>;tag=a1\nTo: <sip:bob@example.com>;tag=b9\n"
                  "Call-ID: c1@example.com\nCSeq: 315 BYE\nContent-Length: 0\n\n")
    assert table.match(bye) == (dialog, "owner")
    forged = message(bye.to_bytes().decode().replace("tag=b9", "tag=guess"))
    assert table.match(forged) is None
    swapped = message(bye.to_bytes().decode().replace("tag=a1", "tag=x")
                      .replace("tag=b9", "tag=a1").replace("tag=x", "tag=b9"))
    assert table.match(swapped) is None  # our tag must be in To
    with pytest.raises(DialogTableFull):
        table.add(Dialog.as_uas(INVITE, "other"), "owner")
    table.add(dialog, "again")  # the same dialog again is no new entry
    assert len(table) == 1


def test_an_ended_dialog_lingers_then_is_forgotten_on_the_clock():
    clock = Clock()
    clock.advance(1000)
    table: DialogTable[str] = DialogTable(linger=32.0)
    first, second = Dialog.as_uas(INVITE, "b1"), Dialog.as_uas(INVITE, "b2")
    table.add(first, "one")
    table.add(second, "two")
    assert table.get_timer() is None
    table.end(first, clock.seconds())
    clock.advance(10)
    table.end(second, clock.seconds())
    table.end(second, clock.seconds())  # ending twice changes nothing
    assert first.state == TERMINATED and table.get(first.id) == (first, "one")
    assert table.get_timer() == 1032.0
    clock.advance(21.9)
    assert table.handle_timer(clock.seconds()) == []
    clock.advance(0.1)
    assert table.handle_timer(clock.seconds()) == [first]
    assert table.get(first.id) is None and table.get_timer() == 1042.0
    table.remove(second)
    clock.advance(10)
    assert table.handle_timer(clock.seconds()) == [] and len(table) == 0
