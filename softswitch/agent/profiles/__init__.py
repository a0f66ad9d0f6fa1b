"""Wire profiles: each turns bridge events into WebSocket frames and back.

A profile is pure: `start()` and `encode(event)` return frames to send (str for a
text frame, bytes for a binary one); `decode_text`/`decode_binary` return events. A
malformed frame from the agent raises ProfileError (logged and ignored by the edge,
as Twilio ignores what it does not understand)."""


class ProfileError(ValueError):
    """A frame from the agent that the profile cannot use."""


MAX_HANDOFF_TEXT = 128  # characters of an agent's name or reason in a handoff request


def handoff_request(agent, reason):
    """The `AgentHandoff` of a handoff message's fields (every profile's)."""
    from ..events import AgentHandoff
    if not isinstance(agent, str) or not agent or len(agent) > MAX_HANDOFF_TEXT:
        raise ProfileError("handoff needs the agent's name")
    reason = "agent" if reason is None else str(reason)[:MAX_HANDOFF_TEXT]
    return AgentHandoff(agent, "".join(c for c in reason if c.isprintable()))


# Custom parameters a profile takes as its own options rather than passing them to the
# agent: an openai-realtime session's system prompt and voice.
PROFILE_PARAMETERS = {"openai-realtime": ("instructions", "voice")}


def make_profile(name: str, **options):
    from .openai_realtime import OpenAIRealtimeProfile
    from .raw import RawProfile
    from .twilio import TwilioProfile
    profiles = {"twilio": TwilioProfile, "raw": RawProfile,
                "openai-realtime": OpenAIRealtimeProfile}
    try:
        return profiles[name](**options)
    except KeyError:
        raise ValueError(f"unknown agent profile {name!r}") from None


def make_agent_profile(name: str, sample_rate: int, custom_parameters,
                       wideband: bool = False):
    """`make_profile` for one call: its audio rate, whether the caller's codec is
    wideband (openai-realtime then takes 24 kHz PCM rather than µ-law), and the options
    the profile reads from the call's custom parameters (PROFILE_PARAMETERS)."""
    options = {key: custom_parameters[key] for key in PROFILE_PARAMETERS.get(name, ())
               if key in custom_parameters}
    return make_profile(name, sample_rate=sample_rate, wideband=wideband, **options)
