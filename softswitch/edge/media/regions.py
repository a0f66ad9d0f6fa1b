"""The relay's regions: each one's configuration and port pairs, replaceable while
calls run.

A region added, changed or deleted over the admin API reaches the relay with the
next routing snapshot (`replace`), so the next call uses it. A call keeps the
configuration and the allocator it started with: its ports stay bound and go back
to that allocator when it ends, even if its region changed or went away meanwhile.
A changed port range gets a new allocator; a pair still held by an older call of the
same bind address fails to bind and is skipped (`RtpRelay._bind_stream`).
"""

from ...services.media_control import RegionConfig
from .ports import PortAllocator


class RelayRegions:
    def __init__(self, regions: dict[str, RegionConfig]):
        self._configs: dict[str, RegionConfig] = {}
        self._allocators: dict[str, PortAllocator] = {}
        self.replace(regions)

    def get(self, name: str) -> tuple[RegionConfig, PortAllocator] | None:
        config = self._configs.get(name)
        if config is None:
            return None
        return config, self._allocators[name]

    def replace(self, regions: dict[str, RegionConfig]) -> None:
        """Make `regions` the set new calls use; an unchanged region keeps its
        allocator (and so its pairs in use)."""
        allocators = {}
        for name, config in regions.items():
            kept = self._configs.get(name)
            if kept is not None and (kept.port_min, kept.port_max) == (config.port_min,
                                                                      config.port_max):
                allocators[name] = self._allocators[name]
            else:
                allocators[name] = PortAllocator(config.port_min, config.port_max)
        self._configs = dict(regions)
        self._allocators = allocators

    def names(self) -> list[str]:
        return list(self._configs)

    def allocator(self, name: str) -> PortAllocator:
        return self._allocators[name]

    def __contains__(self, name: str) -> bool:
        return name in self._configs
