"""The headers that claim who is calling: P-Asserted-Identity and
P-Preferred-Identity (RFC 3325), Remote-Party-ID (its draft predecessor, still sent
by carriers and phones) and Identity (RFC 8224). Believed only from a trusted source
(services.caller_id)."""

IDENTITY_HEADERS = ("P-Asserted-Identity", "Remote-Party-ID", "P-Preferred-Identity",
                    "Identity")
