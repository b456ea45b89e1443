"""Storage layer: SQLAlchemy models, repository functions (take a session, never commit),
Alembic migrations. Services own transactions."""
