"""The database: opened, migrated, its secrets sealed, the bootstrap token stored."""

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from twisted.logger import Logger

from ..config import Settings
from ..edge.sip.service import StartupError
from ..metrics import Metrics
from ..store import migrate, secret_box, tokens
from ..store.database import Database

log = Logger()


def open_database(settings: Settings, reactor, metrics: Metrics) -> Database:
    url = settings.database.url
    box = open_secret_box(settings)
    try:
        migrate.upgrade(url, secret_box=box)
        database = Database(url, reactor, max_threads=settings.database.threads,
                            observe=metrics.observe_db, secret_box=box)
        database.run_sync(secret_box.check_key, box)
        sealed = database.run_sync(secret_box.seal_clear_rows, box)
        if sealed:
            log.info("sealed {n} secrets stored in clear", n=sealed)
        if settings.admin_token:
            database.run_sync(tokens.ensure_bootstrap_token, settings.admin_token)
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise StartupError(f"cannot open the database {_safe_url(url)}: {detail}") from None
    except secret_box.SecretKeyMissing as exc:
        raise StartupError(f"the database {_safe_url(url)}: {exc}") from None
    return database


def open_secret_box(settings: Settings) -> secret_box.SecretBox:
    """The key from the configuration or environment, else from the key file, which
    is made (0600) on the first start."""
    key = settings.secrets_key
    if not key:
        path = settings.database.secrets_key_file
        try:
            key, created = secret_box.load_or_create_key_file(path)
        except OSError as exc:
            raise StartupError(f"[database] secrets_key_file {path}: {exc.strerror}") from None
        if created:
            log.warn("made a new secrets key in {path}: back it up with the database; "
                     "nodes sharing one database need the same [database] secrets_key",
                     path=path)
    try:
        return secret_box.SecretBox(key)
    except ValueError as exc:
        raise StartupError(f"[database] secrets_key_file {settings.database.secrets_key_file}: "
                           f"{exc}") from None


def _safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)
