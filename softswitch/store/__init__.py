"""The SQL store: tables, migrations, the thread-pool Database, repositories.

``tables`` holds the SQLAlchemy Core schema, ``migrate`` runs the Alembic
scripts in sql/, ``database`` runs repository functions (``users``,
``registrations``, ``tokens``...) on a thread pool and returns Deferreds.
"""
