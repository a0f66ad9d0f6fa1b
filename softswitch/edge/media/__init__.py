"""The RTP relay's sockets: relay ports, port allocation per region, the slot ticker,
relay metrics and transfer ringback."""
