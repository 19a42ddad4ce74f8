"""The `docket` application object and what every command module shares.

Commands live in :mod:`docket.cli` and in modules of their own (``docket.cli_*``);
each imports the app from here, and :mod:`docket.cli` imports those modules so that
their commands are registered, without an import cycle.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

if TYPE_CHECKING:
    from serving.ledger import DecisionLog

app = typer.Typer(
    name="docket",
    help="Docket: audited decision models with reasons, human review and a tamper-evident log.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
spec_app = typer.Typer(
    help="Decision specs: draft one from data, list, validate (against the data too).",
    no_args_is_help=True,
)
app.add_typer(spec_app, name="spec")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print a machine-readable result.")]
F = TypeVar("F", bound=Callable[..., Any])


def progress(line: str) -> None:
    typer.echo(line, err=True)


def emit(result: Any, as_json: bool, human: Callable[[Any], str]) -> None:
    if as_json:
        typer.echo(json.dumps(result, indent=2, sort_keys=True, default=str))
    else:
        typer.echo(human(result))


def user_errors(func: F) -> F:
    """Turn the packages' user-facing errors into a message and exit status 2."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from audits.audit import AuditError
        from docket.usecases import UnknownUseCase
        from models.encoder import EncodingError
        from models.registry import RegistryError
        from models.spec import SpecError
        from training.data import DataError

        try:
            return func(*args, **kwargs)
        except (
            SpecError,
            DataError,
            UnknownUseCase,
            EncodingError,
            RegistryError,
            AuditError,
        ) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(code=2) from None

    return wrapper  # type: ignore[return-value]


def operator_name(by: str | None) -> str:
    """Who runs the command, as the ledger records it: ``--by``, else the OS user."""
    import getpass

    if by is not None:
        return by
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in the environment or the password database
        typer.echo("error: --by is required: the OS user name could not be found", err=True)
        raise typer.Exit(code=2) from None


ByOption = Annotated[
    str | None,
    typer.Option(help="Who runs this, as recorded in the ledger (default: the OS user)."),
]


def open_ledger() -> DecisionLog:
    """The state folder's decision ledger, migrated to the current schema."""
    from models.settings import Settings
    from serving.ledger import DecisionLog

    store = DecisionLog(Settings.from_env().ensure().database_url)
    store.migrate()
    return store
