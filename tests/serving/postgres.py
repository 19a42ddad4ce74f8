"""A fresh PostgreSQL schema per test, on the server named by $DOCKET_TEST_POSTGRES_URL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from serving.ledger.engine import normalise_url

POSTGRES_URL_ENV = "DOCKET_TEST_POSTGRES_URL"


def _skip(reason: str) -> None:
    print(reason)
    pytest.skip(reason)


def postgres_schema() -> Iterator[str]:
    """A fresh schema ``docket_test_<random>`` on $DOCKET_TEST_POSTGRES_URL, dropped after.

    The URL returned puts that schema first on the search_path, so every table
    (and the alembic version table) lands in it and tests never see each other's rows.
    """
    base = os.environ.get(POSTGRES_URL_ENV)
    if not base:
        _skip(f"{POSTGRES_URL_ENV} is not set: skipping the PostgreSQL variant")
        return
    server = normalise_url(base)
    admin = create_engine(server, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    name = f"docket_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{name}"'))
    except SQLAlchemyError as error:
        admin.dispose()
        shown = server.render_as_string(hide_password=True)
        _skip(f"PostgreSQL at {shown} is unreachable ({type(error).__name__}): skipping")
        return
    try:
        url = server.update_query_dict({"options": f"-csearch_path={name}"})
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP SCHEMA IF EXISTS "{name}" CASCADE'))
        admin.dispose()
