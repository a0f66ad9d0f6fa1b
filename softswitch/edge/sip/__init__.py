"""SIP transports: UDP and TCP listeners, the endpoint between sockets and the
transaction layer, the source guard."""
