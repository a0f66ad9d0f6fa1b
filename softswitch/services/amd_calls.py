"""Answering-machine detection results of outbound calls (docs/amd.md): what an
`OutboundCall` keeps of them, its call record's fields, and the hang-up on machines.

`amd_event(calls, call, event)` is the session's `on_amd` for a call: the record gets
`amd_result` and `amd_decision_ms` (ms after the answer) on the decision, and the
`amd` details (reason, a machine greeting's end: beep or silence, and when); a machine
ends the call when the options say so ("switch" "machine" in the record). Each event
is also a `call.amd` webhook (services.webhooks).
"""

from ..agent.amd_watch import reported
from ..media.amd import AmdDecided, MachineEnded
from .webhooks import emit_for


def amd_event(calls, call, event) -> None:
    """One detector event of `call` (an OutboundCall of `calls`, OutboundCalls)."""
    if call.ended:
        return
    record = call.record
    details = dict(record.amd or {})
    details.update(options=call.amd.to_dict())
    if isinstance(event, AmdDecided):
        record.amd_result, record.amd_decision_ms = event.result, event.at_ms
        details.update(reason=event.reason, answered_by=reported(event).answered_by)
    elif isinstance(event, MachineEnded):
        details.update(machine_end=event.cause, machine_end_ms=event.at_ms,
                       answered_by=reported(event).answered_by)
        if event.beep_hz is not None:
            details["beep_hz"] = event.beep_hz
    record.amd = details
    emit_for(calls.webhooks, "call.amd", record, amd=amd_view(call))
    if call.amd.hangs_up(event):
        call.end("switch", "machine")


def amd_view(call) -> dict | None:
    """The API's view of a call's detection: None if it did not ask for one."""
    if call.amd is None:
        return None
    record = call.record
    details = record.amd or {}
    return {"mode": call.amd.mode, "result": record.amd_result,
            "decision_ms": record.amd_decision_ms,
            "answered_by": details.get("answered_by"),
            "machine_end": details.get("machine_end"),
            "machine_end_ms": details.get("machine_end_ms")}
