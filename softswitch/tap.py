"""The composition root: `twistd -n softswitch [--config PATH]`.

Options only parses; makeService builds every part and wires them. This is the one
module that imports the global reactor.
"""

import gc
import os
import socket
import sys
import time

from twisted.application import service, strports
from twisted.application.internet import TimerService
from twisted.internet.defer import gatherResults, maybeDeferred, succeed
from twisted.internet.error import CannotListenError
from twisted.logger import (
    FilteringLogObserver,
    ILogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    Logger,
    textFileLogObserver,
)
from twisted.python import usage

from . import config
from .admin.api import build_api
from .admin.throttle import BadTokenThrottle
from .admin.calls_view import CallsView
from .admin.registrations_view import LiveRegistrations
from .admin.twilio_api import MAX_FORM_BYTES as twilio_max_form
from .admin.twilio_api import PATH_PREFIX as twilio_api_path
from .admin.twilio_api import TwilioApiResource
from .admin.trunk_status_view import TrunkStatusView
from .compose.calls import session_timer_config
from .compose.media import RegionFollower, build_relay
from .compose.recording import build_recordings, record_number, record_policy
from .compose.storage import open_database
from .compose.trust import agent_trust_root, build_stir
from .config import ConfigError, Settings
from .edge.admin.site import build_root, build_site
from .edge.agent.sessions import AgentSessionFactory, slot_ticker
from .edge.stir.metrics import StirMetrics
from .edge.storage.cdr_writer import CdrWriter
from .edge.webhooks import build_webhooks
from .edge.agent.demo import set_up_echo_demo
from .edge.agent.echo import echo_agent_resource
from .edge.storage.gateway_resolver import GatewayResolver, make_resolver
from .edge.storage.snapshot_loader import SnapshotLoader
from .edge.storage.bindings import DatabaseBindingStore, bindings_from_rows
from .edge.media.metrics import RelayMetrics
from .edge.media.recording_source import RecordingMediaControl
from .edge.sip.endpoint import LocalAddresses, SipEndpoint
from .edge.sip.guard import GuardMetrics, SipGuard
from .edge.sip.service import SipListeners, StartupError
from .edge.sip.tcp import SipStreamFactory
from .edge.sip.tls_service import make_tls
from .metrics import Metrics
from .sdp.agent_answer import check_preference
from .services.agent_calls import AgentCalls
from .services.auth import DigestAuthenticator
from .services.call_routing import CallRouter
from .services.directory import CredentialDirectory
from .services.dispatcher import RequestDispatcher, ServerIdentity
from .services.drain import Drain
from .services.gateways import GatewayHealth
from .services.guard import GuardPolicy
from .services.in_dialog import InDialogRouter
from .services.limits import TrunkLimiter
from .services.location import LocationService
from .services.media_owners import MediaOwners
from .services.outbound_calls import OutboundCalls
from .services.ports import LateTransactionUser
from .services.proxy import Proxy
from .services.proxy_call import ProxyConfig
from .services.registrar import Registrar, RegistrarPolicy
from .services.routing import SnapshotHolder
from .services.transfers import Transfers
from .services.trunk_registration import TrunkRegistrations
from .services.calls.legs import SipLegs
from .services.webhooks import reporting_ends
from .sip.digest import NonceManager
from .sip.message import Limits
from .sip.timers import TimerConfig
from .sip.transaction import TransactionLayer
from .sip.transport import response_destination
from .store import registrations, users
from .store.database import DatabaseService

log = Logger()


class Options(usage.Options):
    synopsis = "[--config PATH]"
    longdesc = "A SIP softswitch that bridges phone calls to AI voice agents."
    optParameters = [
        ["config", "c", None, f"TOML configuration file [default: {config.DEFAULT_PATH}]"],
    ]


class SoftswitchService(service.MultiService):
    """The root service: reports start-up failures as one line and exits."""

    def __init__(self, settings: Settings):
        super().__init__()
        self.settings = settings
        self.drain = None  # returns a Deferred that fires when calls have ended
        self.drain_calls = None  # the services.drain.Drain it uses
        self.stop_first = []  # services to stop before flushing (the SIP listeners)
        self.on_stop = []  # flushes (may return Deferreds), run before the database stops

    def setServiceParent(self, parent):
        super().setServiceParent(parent)
        # twistd's AppLogger uses an ILogObserver component of the application.
        set_component = getattr(parent, "setComponent", None)
        if set_component is not None:
            set_component(ILogObserver, level_filtered_observer(self.settings.log.level))

    def startService(self):
        super().startService()
        # Everything built at start-up lives as long as the process: keep it out of
        # the collector's full passes, which otherwise stall the reactor for ~100 ms.
        gc.collect()
        gc.freeze()
        # Most garbage here dies by reference count; cycles are rare. Young
        # collections every 50,000 allocations instead of 700 spare the per-message
        # work, and full passes over thousands of live calls come far less often.
        gc.set_threshold(50_000, 50, 100)

    def privilegedStartService(self):
        try:
            super().privilegedStartService()
        except StartupError as exc:
            exit_with(str(exc))
        except CannotListenError as exc:
            exit_with(f"cannot listen on {exc.interface or '*'}:{exc.port}: {exc.socketError}")

    def stopService(self):
        # In order: calls in progress finish (bounded), no new messages are taken,
        # what is batched for the database is written, then everything stops.
        d = self.drain() if self.drain is not None else succeed(None)
        d.addBoth(lambda _: gatherResults(
            [maybeDeferred(s.stopService) for s in self.stop_first], consumeErrors=True))
        d.addBoth(lambda _: gatherResults(
            [maybeDeferred(cb) for cb in self.on_stop], consumeErrors=True))
        d.addBoth(lambda _: service.MultiService.stopService(self))
        return d


class TrunkServices(service.Service):
    """Gateway probing and carrier registration follow the routing snapshot."""

    def __init__(self, snapshot, health, registrations):
        self._snapshot = snapshot
        self._health = health
        self._registrations = registrations

    def startService(self):
        super().startService()
        self.snapshot_changed(self._snapshot())

    def snapshot_changed(self, snapshot) -> None:
        if self.running:
            self._health.set_snapshot(snapshot)
            self._registrations.set_snapshot(snapshot)

    def stop_registrations(self):
        return self._registrations.stop()

    def stopService(self):
        super().stopService()
        self._health.stop()


def level_filtered_observer(level: str):
    predicate = LogLevelFilterPredicate(defaultLogLevel=LogLevel.levelWithName(level))
    return FilteringLogObserver(textFileLogObserver(sys.stdout), [predicate])


def exit_with(message: str):
    sys.stderr.write(f"softswitch: {message}\n")
    raise SystemExit(1)


def makeService(options) -> service.IService:
    from twisted.internet import reactor

    try:
        settings = config.load(options["config"])
        return build_service(settings, reactor)
    except (ConfigError, StartupError) as exc:
        exit_with(str(exc))


def build_service(settings: Settings, reactor) -> SoftswitchService:
    root = SoftswitchService(settings)
    metrics = Metrics()
    database = open_database(settings, reactor, metrics)
    DatabaseService(database).setServiceParent(root)

    sip = settings.sip
    directory = CredentialDirectory(sip.domain)
    directory.replace(database.run_sync(users.load_credentials))
    secret = sip.nonce_secret.encode() if sip.nonce_secret else os.urandom(32)
    authenticator = DigestAuthenticator(
        sip.domain, NonceManager(secret, lifetime=sip.nonce_lifetime), directory.lookup_ha1,
        algorithms=sip.digest_algorithms)

    node = socket.gethostname()
    binding_store = DatabaseBindingStore(database, reactor, node=node)
    location = LocationService(reactor, binding_store, on_change=metrics.registrations.set)
    restored = database.run_sync(registrations.load_active, time.time())
    location.restore(bindings_from_rows(restored))
    log.info("restored {n} registrations", n=len(location))
    root.on_stop += [location.stop, binding_store.flush]

    policy = RegistrarPolicy(sip.domain, sip.min_expires, sip.max_expires,
                             sip.default_expires, frozenset(("localhost",)),
                             max_contacts=sip.max_contacts_per_aor,
                             contacts_overflow=sip.contacts_overflow)
    snapshot = SnapshotHolder()
    # Trunk gateways have their own budget and are never banned automatically.
    guard = SipGuard(reactor, GuardPolicy(
        settings.guard, is_trunk=lambda host: snapshot().has_trunk_at(host),
        is_trunk_peer=lambda host, port, transport:
            snapshot().trunk_for_source(host, port, transport) is not None))
    metrics.registry.register(GuardMetrics(guard))
    registrar = Registrar(policy, authenticator, location, metrics, security=guard)

    set_up_echo_demo(database, settings)  # before the first snapshot, which then holds it
    resolver = GatewayResolver(make_resolver(settings.trunks.dns_servers),
                               timeout=settings.trunks.dns_timeout)
    snapshot_loader = SnapshotLoader(database, snapshot, resolver=resolver)
    snapshot_loader.load_now()
    snapshot_loader.on_loaded.append(guard.trunks_changed)
    proxy_auth = DigestAuthenticator(
        sip.domain, NonceManager(secret, lifetime=sip.nonce_lifetime), directory.lookup_ha1,
        challenge_status=407, algorithms=sip.digest_algorithms)
    recordings = build_recordings(settings, reactor, database, metrics, root, node)
    cdr_writer = CdrWriter(database, reactor, recording_of=recordings.take_recording_id)
    root.on_stop.append(cdr_writer.flush)
    webhooks = build_webhooks(settings, reactor, snapshot, metrics)
    root.on_stop.append(webhooks.stop)  # no more retries once stopping
    call_ended = reporting_ends(cdr_writer, webhooks)  # the record, then call.ended
    limits = Limits(max_message_size=sip.max_message_size)
    layer = TransactionLayer(TimerConfig(t1=sip.t1, t2=sip.t2, t4=sip.t4),
                             response_destination=response_destination)
    # The dispatcher's proxy sends through the endpoint: the endpoint gets a port the
    # dispatcher is bound to once built.
    core = LateTransactionUser()
    endpoint = SipEndpoint(reactor, layer, core, metrics, limits, trace=sip.trace,
                           addresses=LocalAddresses(sip.advertise), guard=guard)
    # The agent calls' 20 ms slots run between the relay's and the agent sockets' reads.
    ticker = slot_ticker(reactor, settings.agents.jitter_min_ms)
    relay = build_relay(settings, snapshot(), reactor, between_reads=ticker.run_due)
    snapshot_loader.on_loaded.append(RegionFollower(settings, relay, snapshot()).snapshot_changed)
    metrics.registry.register(RelayMetrics(relay))
    root.on_stop.append(relay.close)
    trunks = settings.trunks
    health = GatewayHealth(reactor, endpoint, interval=trunks.probe_interval,
                           timeout_failures=trunks.probe_failures,
                           recovery_successes=trunks.probe_successes, metrics=metrics)
    registrations_out = TrunkRegistrations(reactor, endpoint,
                                           expires=trunks.registration_expires, metrics=metrics)
    limiter = TrunkLimiter(reactor, metrics=metrics)
    # Shared by every call type: the relay's inactivity events reach their call's
    # owner, and in-dialog requests are matched once, whatever the call.
    media_owners = MediaOwners()
    dialog_router = InDialogRouter(endpoint)
    agent_settings = settings.agents
    agent_sessions = AgentSessionFactory(
        reactor, relay, connect_timeout=agent_settings.connect_timeout, metrics=metrics,
        jitter_min_ms=agent_settings.jitter_min_ms,
        jitter_target_ms=agent_settings.jitter_target_ms,
        jitter_max_ms=agent_settings.jitter_max_ms, max_burst=agent_settings.max_burst,
        ringback=agent_settings.transfer_ringback, trust_root=agent_trust_root(agent_settings),
        close_drain_timeout=agent_settings.close_drain_timeout, ticker=ticker,
        recordings=recordings, record_policy=record_policy(snapshot),
        codecs=check_preference(agent_settings.codecs))
    legs = SipLegs(dialog_router)  # the dialogs of ours as UAC (outbound, transfers)
    signing, verification = build_stir(settings, reactor, snapshot)
    transfers = Transfers(
        endpoint, reactor, snapshot, relay, legs, location=location,
        domain=sip.domain, limiter=limiter, gateway_order=health.order, gateway_health=health,
        ring_timeout=settings.agents.transfer_ring_timeout, user_agent=sip.user_agent,
        session_timers=session_timer_config(sip), max_forks=sip.max_forks, webhooks=webhooks,
        codecs=check_preference(settings.agents.codecs),
        refer_fallback=agent_settings.refer_fallback,
        refer_notify_timeout=agent_settings.refer_notify_timeout,
        signing=signing, allow_sdes_over_insecure=settings.media.allow_sdes_over_insecure)
    agent_calls = AgentCalls(
        endpoint, reactor, agent_sessions, on_call_end=call_ended,
        connect_timeout=settings.agents.connect_timeout, user_agent=sip.user_agent,
        media_owners=media_owners, dialog_router=dialog_router,
        session_timers=session_timer_config(sip), legs=legs, transfers=transfers,
        webhooks=webhooks, snapshot=snapshot)
    metrics.registry.register(StirMetrics(signing, verification))
    proxy = Proxy(
        endpoint, reactor, CallRouter(sip.domain, proxy_auth, snapshot, security=guard),
        location, snapshot, domain=sip.domain, on_call_end=call_ended, metrics=metrics,
        config=ProxyConfig(max_forks=sip.max_forks), is_our_address=endpoint.is_our_address,
        media=RecordingMediaControl(relay, recordings, record_number(snapshot), reactor)
        if settings.media.anchor else None, limiter=limiter,
        gateway_order=health.order, gateway_health=health, agent_calls=agent_calls,
        media_owners=media_owners, dialog_router=dialog_router,
        signing=signing, verification=verification)
    dispatcher = RequestDispatcher(registrar, endpoint, ServerIdentity(user_agent=sip.user_agent),
                                   proxy=proxy)
    core.bind(dispatcher)
    outbound_calls = OutboundCalls(
        endpoint, reactor, snapshot, agent_sessions, legs, domain=sip.domain,
        limiter=limiter, gateway_order=health.order, gateway_health=health,
        on_call_end=call_ended, ring_timeout=settings.agents.outbound_ring_timeout,
        max_queue_wait=settings.agents.outbound_max_queue_wait, user_agent=sip.user_agent,
        transfers=transfers, media_owners=media_owners,
        session_timers=session_timer_config(sip), signing=signing,
        webhooks=webhooks, allow_sdes_over_insecure=settings.media.allow_sdes_over_insecure)
    relay.set_listener(media_owners.timed_out)  # proxied and agent calls alike
    trunk_services = TrunkServices(snapshot, health, registrations_out)
    trunk_services.setServiceParent(root)
    snapshot_loader.on_loaded.append(trunk_services.snapshot_changed)
    stream_factory = SipStreamFactory(
        endpoint, metrics, limits, sip.tcp_idle_timeout, sip.tcp_max_connections,
        reactor=reactor, max_per_address=sip.tcp_max_connections_per_address,
        message_timeout=sip.tcp_message_timeout)
    specs = [config.parse_sip_listen(s) for s in sip.listen]
    # TLS: `tls:` listeners, and outbound TLS to gateways even with none configured.
    tls_factory, tls_reloader = make_tls(settings.tls, sip, endpoint, metrics, limits,
                                         reactor, snapshot)
    tls_reloader.setServiceParent(root)
    listeners = SipListeners(reactor, endpoint, specs, stream_factory, sip.max_message_size,
                             tls_factory=tls_factory)
    listeners.setServiceParent(root)
    root.stop_first.append(listeners)

    root.drain_calls = Drain(reactor, dispatcher, proxy, outbound_calls,
                             timeout=sip.drain_timeout)

    def drain():
        d = root.drain_calls()
        # Unregister from carriers while the SIP listeners can still carry it.
        return d.addBoth(lambda _: trunk_services.stop_registrations())

    root.drain = drain

    def reload_credentials():
        d = database.run("users.load_credentials", users.load_credentials)
        d.addCallback(directory.replace)
        d.addErrback(lambda f: log.failure("reloading credentials failed", f))
        return d

    def reload_all():
        reload_credentials()
        snapshot_loader.reload()

    reloader = TimerService(settings.database.reload_interval, reload_all)
    reloader.clock = reactor
    reloader.setServiceParent(root)

    def service_health():
        # Not `health`: that name is the gateway health the trunk status view reads.
        return {"status": "ok", "registrations": len(location), "users": len(directory)}

    def on_admin_change(kind: str):
        # After every committed admin API write, before its answer: the next call
        # sees the change (the timer's reload brings other nodes' writes).
        pending = []
        if kind == "users":
            pending.append(reload_credentials())
        if kind != "tokens":
            pending.append(snapshot_loader.reload())  # users are route targets too
        return gatherResults(pending)

    admin = settings.admin
    calls_view = CallsView(proxy, outbound_calls)
    throttle = BadTokenThrottle(reactor, limit=admin.bad_token_limit,
                                block=admin.bad_token_block)
    api = build_api(database, reactor, domain=sip.domain, on_change=on_admin_change,
                    metrics=metrics, calls=calls_view,
                    trunk_status=TrunkStatusView(health, registrations_out, limiter),
                    guard=guard, throttle=throttle,
                    registrations=LiveRegistrations(location, reactor, node),
                    webhooks=webhooks, recordings=recordings)
    twilio_api = TwilioApiResource(calls_view, lambda: snapshot().agents.values(), reactor)
    site = build_site(build_root(metrics.registry, service_health, api,
                                 echo_agent_resource(reactor), twilio_api),
                      api, reactor, max_connections=admin.max_connections,
                      header_timeout=admin.header_timeout, metrics=metrics,
                      self_authenticating=((twilio_api_path, twilio_max_form),))
    strports.service(admin.listen, site).setServiceParent(root)
    return root
