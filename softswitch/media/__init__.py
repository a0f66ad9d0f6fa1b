"""Media core: RTP/RTCP packets, sequence-number arithmetic, receiver statistics and
symmetric-RTP latching. Pure: standard library (and numpy/soxr where they pay) only."""
