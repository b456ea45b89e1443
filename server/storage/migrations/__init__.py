"""Alembic migrations (async). Run with `jmdchat db upgrade`."""
