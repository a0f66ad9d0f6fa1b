"""The attestation level a signer gives a call (ATIS-1000074 §5.2.3, RFC 8588 §4):

- A (full): the caller is one of our authenticated customers and the calling number
  is one it may use;
- B (partial): an authenticated customer presenting a number we cannot vouch for;
- C (gateway): a call we only pass on (it came in from another network).
"""

import uuid
from dataclasses import dataclass
from typing import Callable

# origid: one stable UUID per origination point (a user, an agent, a trunk), so a
# traceback can follow calls from one source without naming it.
_ORIGID_NAMESPACE = uuid.UUID("7d3c7f0e-8a51-4e7e-9a43-8f4f3c0b5a11")


@dataclass(frozen=True, slots=True)
class Origination:
    """Who a call comes from, as far as attestation goes."""

    authenticated: bool  # a user or agent of ours, or a call we place ourselves
    calling_number: str | None  # E.164 (after caller-ID policy), None if not a number
    source: str  # "user:alice", "agent:bot", "trunk:carrier": keys the origid


# (calling number E.164, source) -> whether the number is one the source may present.
NumberIsOurs = Callable[[str, str], bool]


def attestation_level(origination: Origination, number_is_ours: NumberIsOurs) -> str:
    if not origination.authenticated:
        return "C"
    number = origination.calling_number
    if number is not None and number_is_ours(number, origination.source):
        return "A"
    return "B"


def origid_for(source: str) -> str:
    return str(uuid.uuid5(_ORIGID_NAMESPACE, source))
