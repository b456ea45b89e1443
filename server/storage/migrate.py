"""Programmatic Alembic: `upgrade`, `check`, `revision` with the URL from jmdchat's config."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("path_separator", "os")
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", database_url)
    cfg.set_main_option("version_locations", str(MIGRATIONS / "versions"))
    cfg.set_main_option("file_template", "%%(rev)s_%%(slug)s")
    return cfg


def _outside_event_loop(work: Callable[[], None]) -> None:
    """Alembic's async env uses asyncio.run(); inside a running loop, use a thread."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        work()
        return
    failure: list[BaseException] = []

    def target() -> None:
        try:
            work()
        except BaseException as exc:  # re-raised in the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]


def upgrade(database_url: str, revision: str = "head") -> None:
    _outside_event_loop(lambda: command.upgrade(alembic_config(database_url), revision))


def downgrade(database_url: str, revision: str) -> None:
    _outside_event_loop(lambda: command.downgrade(alembic_config(database_url), revision))


def current(database_url: str) -> None:
    """Print the database's schema revision (`alembic current`)."""
    _outside_event_loop(lambda: command.current(alembic_config(database_url)))


def check(database_url: str) -> None:
    """Raise if the models and the migrations differ (`alembic check`)."""
    _outside_event_loop(lambda: command.check(alembic_config(database_url)))


def revision(database_url: str, message: str, rev_id: str) -> None:
    command.revision(
        alembic_config(database_url), message=message, autogenerate=True, rev_id=rev_id
    )
