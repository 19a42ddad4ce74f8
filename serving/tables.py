"""Every table of the service database, and the developer command for new migrations.

The ledger owns the database (engine, declarative base, alembic history); each
package above it declares its own tables in its ``schema`` module. This module
gathers them, for the migration tests and for autogenerating a revision::

    python -m serving.tables revision -m "what changed" --url sqlite:////tmp/x.db
    python -m serving.tables upgrade --url sqlite:////tmp/x.db
"""

from __future__ import annotations

import argparse

from alembic import command
from sqlalchemy import MetaData

from serving.access import schema as access_schema
from serving.decisions import schema as decisions_schema
from serving.ledger.migrate import alembic_config, migrate
from serving.ledger.schema import Base
from serving.review import schema as review_schema

__all__ = ["main", "metadata"]

#: the packages whose tables live on :class:`serving.ledger.schema.Base`
OWNERS = (access_schema.__name__, decisions_schema.__name__, review_schema.__name__)


def metadata() -> MetaData:
    """The metadata of every table (the schema modules above are imported with this one)."""
    return Base.metadata


def main(argv: list[str] | None = None) -> None:
    """Developer entry point: ``upgrade`` a database or autogenerate a ``revision``."""
    parser = argparse.ArgumentParser(prog="python -m serving.tables")
    parser.add_argument("action", choices=["upgrade", "revision"])
    parser.add_argument("--url", required=True, help="database to upgrade / compare against")
    parser.add_argument("-m", "--message", default="change", help="revision message")
    args = parser.parse_args(argv)
    if args.action == "upgrade":
        print(migrate(args.url))
        return
    migrate(args.url)
    config = alembic_config(args.url)
    config.attributes["target_metadata"] = metadata()
    command.revision(config, message=args.message, autogenerate=True)


if __name__ == "__main__":
    main()
