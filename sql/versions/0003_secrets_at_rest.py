"""Trunk passwords and agent secret headers sealed at rest (Fernet).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03

Data only: no column changes type (store.secret_box says how sealed values look).
With a key (softswitch.store.migrate.upgrade(url, secret_box=...), which the switch
always passes), the values stored in clear are sealed in place; without one they
stay as they are, and the switch seals them at its next start with a key. Offline
(--sql) this renders nothing but the revision bump: sealing needs the rows.
Downgrading opens them again, and needs the key when any value is sealed.
"""

from alembic import context, op

from softswitch.store import secret_box

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _box():
    return context.config.attributes.get("secret_box")


def upgrade() -> None:
    box = _box()
    if box is None or context.is_offline_mode():
        return
    secret_box.seal_clear_rows(op.get_bind(), box)


def downgrade() -> None:
    if context.is_offline_mode():
        return
    connection = op.get_bind()
    box = _box()
    if box is None:
        if secret_box.count_sealed_rows(connection):
            raise secret_box.SecretKeyMissing(
                "downgrading below 0003 opens the sealed secrets: pass the secrets key")
        return
    secret_box.open_sealed_rows(connection, box)
