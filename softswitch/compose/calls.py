"""The call services' settings from the configuration."""

from ..sip.session_timer import SessionTimerConfig


def session_timer_config(sip) -> SessionTimerConfig | None:
    """[sip] session_expires and min_se (RFC 4028), or None when they are off."""
    if not sip.session_expires:
        return None
    return SessionTimerConfig(sip.session_expires, sip.min_se)
