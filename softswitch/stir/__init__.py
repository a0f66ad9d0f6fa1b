"""STIR/SHAKEN (RFC 8224, 8225, 8226, 8588; ATIS-1000074) as a pure core: PASSporTs
signed and read, the SIP Identity header, attestation levels, STI certificates checked
against trust anchors, and the verification of one call's Identity. Functions take
bytes and `now`; fetching an x5u certificate over HTTPS is the edge's (edge/stir).
The cryptography is `cryptography` and PyJWT's; the TNAuthList is read with pyasn1."""
