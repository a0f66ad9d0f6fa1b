"""Serial-number arithmetic (RFC 1982) for RTP sequence numbers (16 bits) and
timestamps (32 bits), in one place."""

UINT16_MOD = 1 << 16
UINT32_MOD = 1 << 32
_HALF16 = UINT16_MOD >> 1
_HALF32 = UINT32_MOD >> 1


def uint16_add(a: int, b: int) -> int:
    return (a + b) & 0xFFFF


def uint16_diff(a: int, b: int) -> int:
    """The signed distance from b to a, in [-32768, 32767]: 1 when a follows b."""
    d = (a - b) & 0xFFFF
    return d - UINT16_MOD if d >= _HALF16 else d


def uint16_gt(a: int, b: int) -> bool:
    """Whether a comes after b (a distance of exactly half the space is neither)."""
    return 0 < ((a - b) & 0xFFFF) < _HALF16


def uint32_add(a: int, b: int) -> int:
    return (a + b) & 0xFFFFFFFF


def uint32_diff(a: int, b: int) -> int:
    """The signed distance from b to a, in [-2**31, 2**31 - 1]."""
    d = (a - b) & 0xFFFFFFFF
    return d - UINT32_MOD if d >= _HALF32 else d


def uint32_gt(a: int, b: int) -> bool:
    return 0 < ((a - b) & 0xFFFFFFFF) < _HALF32
