"""How the registrar and the proxy's authentication report failed credentials to the
guard at the edge, without importing it: a typed event and the port it goes to."""

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class CredentialsFailed:
    """Credentials from `source` (an IP address) were refused: `reason` is the
    services.auth outcome (unknown-user, bad-password...), `user` the name claimed."""

    source: str
    user: str
    method: str
    reason: str


class SecurityEvents(Protocol):
    def credentials_failed(self, event: CredentialsFailed) -> None: ...


class _NoSecurityEvents:
    def credentials_failed(self, event: CredentialsFailed) -> None:
        pass


NO_SECURITY_EVENTS: SecurityEvents = _NoSecurityEvents()
