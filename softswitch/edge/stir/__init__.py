"""STIR/SHAKEN on the edge: x5u certificates fetched over HTTPS (fetcher.py)."""
