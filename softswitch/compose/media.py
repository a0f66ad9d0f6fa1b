"""The media relay and its regions ([media] and the database's regions)."""

from twisted.logger import Logger

from ..config import Settings
from ..edge.media.relay import RtpRelay
from ..services.media_control import RegionConfig

log = Logger()

DEFAULT_REGION = "default"


def build_relay(settings: Settings, snapshot, reactor, between_reads=None) -> RtpRelay:
    """The media relay: the [media] section is the default region; every region in
    the database is a relay too. `between_reads`: see edge.polling.epoll_group."""
    return RtpRelay(reactor, relay_regions(settings, snapshot.regions.values()),
                    DEFAULT_REGION, inactivity_timeout=settings.media.inactivity_timeout,
                    allow_sdes_over_insecure=settings.media.allow_sdes_over_insecure,
                    between_reads=between_reads)


def relay_regions(settings: Settings, regions) -> dict[str, RegionConfig]:
    """The [media] section as the default region, then the database's regions."""
    media = settings.media
    configs = {DEFAULT_REGION: RegionConfig(DEFAULT_REGION, media.bind,
                                            media.advertise or media.bind,
                                            media.port_min, media.port_max)}
    for region in regions:
        try:
            configs[region.name] = RegionConfig(region.name, region.bind, region.advertise,
                                                region.port_min, region.port_max)
        except ValueError as exc:
            log.warn("region {name} is not usable: {error}", name=region.name, error=exc)
    return configs


class RegionFollower:
    """Regions reach the relay with the snapshot that holds them (the next call uses
    them); an unchanged set is not applied again."""

    def __init__(self, settings: Settings, relay: RtpRelay, snapshot):
        self._settings = settings
        self._relay = relay
        self._applied = tuple(snapshot.regions.values())

    def snapshot_changed(self, snapshot) -> None:
        regions = tuple(snapshot.regions.values())
        if regions != self._applied:
            self._applied = regions
            self._relay.set_regions(relay_regions(self._settings, regions))
