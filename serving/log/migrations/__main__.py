"""Developer commands: ``python -m serving.log.migrations {upgrade,revision} --url URL``."""

from __future__ import annotations

import argparse

from alembic import command

from serving.log.migrate import alembic_config, migrate


def main(argv: list[str] | None = None) -> None:
    """Developer entry point: ``upgrade`` a database or autogenerate a ``revision``."""
    parser = argparse.ArgumentParser(prog="python -m serving.log.migrations")
    parser.add_argument("action", choices=["upgrade", "revision"])
    parser.add_argument("--url", required=True, help="database to upgrade / compare against")
    parser.add_argument("-m", "--message", default="change", help="revision message")
    args = parser.parse_args(argv)
    if args.action == "upgrade":
        print(migrate(args.url))
        return
    migrate(args.url)
    command.revision(alembic_config(args.url), message=args.message, autogenerate=True)


if __name__ == "__main__":
    main()
