"""The `docket` command: a thin shell over the packages.

Progress goes to stderr; ``--json`` puts a machine-readable result on stdout.
User mistakes exit with status 2 and a message naming what was wrong.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

app = typer.Typer(
    name="docket",
    help="Docket: audited decision models with reasons, human review and a tamper-evident log.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
spec_app = typer.Typer(help="Decision specs: list and validate.", no_args_is_help=True)
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
        from docket.usecases import UnknownUseCase
        from models.encoder import EncodingError
        from models.spec import SpecError
        from training.data import DataError

        try:
            return func(*args, **kwargs)
        except (SpecError, DataError, UnknownUseCase, EncodingError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(code=2) from None

    return wrapper  # type: ignore[return-value]


@spec_app.command("list")
def spec_list(as_json: JsonFlag = False) -> None:
    """List the known use cases and their spec files."""
    from docket.usecases import known_specs

    found = {name: str(path) for name, path in known_specs().items()}
    emit(found, as_json, lambda r: "\n".join(f"{k}\t{v}" for k, v in r.items()))


@spec_app.command("validate")
@user_errors
def spec_validate(
    use_case: Annotated[str, typer.Argument(help="Use-case name or path to a spec .toml")],
    as_json: JsonFlag = False,
) -> None:
    """Validate a decision spec and print its hash."""
    from docket.usecases import resolve_spec

    spec = resolve_spec(use_case)
    result = {"name": spec.name, "spec_hash": spec.spec_hash(), "features": spec.feature_names}
    emit(result, as_json, lambda r: f"{r['name']}: valid (spec hash {r['spec_hash'][:12]})")


@app.command()
@user_errors
def train(
    use_case: Annotated[str, typer.Argument(help="Use-case name or path to a spec .toml")],
    seed: Annotated[int | None, typer.Option(help="Override the spec's seed.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Train a use case, log it to MLflow and register it with alias 'candidate'."""
    from docket.usecases import resolve_spec
    from models.settings import Settings
    from training.train import train_use_case

    spec = resolve_spec(use_case)
    result = train_use_case(spec, Settings.from_env(), seed=seed, progress=progress)
    emit(result.to_dict(), as_json, _train_line)


def _train_line(r: dict[str, Any]) -> str:
    m = r["metrics"]
    return (
        f"{r['use_case']}: version {r['version']} ({r['alias']})  "
        f"ROC AUC {m['roc_auc']:.3f}  PR AUC {m['pr_auc']:.3f}  Brier {m['brier']:.3f}  "
        f"log loss {m['log_loss']:.3f}  calibration error {m['calibration_error']:.3f}"
    )


@app.command()
def synth(
    out_dir: Annotated[Path, typer.Argument(help="Folder to write data.csv and spec.toml into")],
    rows: Annotated[int, typer.Option(min=100, help="Number of rows.")] = 4000,
    disparity: Annotated[
        float, typer.Option(min=0.0, help="Log-odds penalty on group B's outcomes.")
    ] = 1.5,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    family: Annotated[str, typer.Option(help="Model family: logistic or gbm.")] = "logistic",
    name: Annotated[str, typer.Option(help="Use-case name.")] = "synthetic-eligibility",
) -> None:
    """Write a synthetic data set and its spec, with a controllable disparity between groups."""
    from training.synthetic import write_synthetic

    if family not in ("logistic", "gbm"):
        typer.echo(f"error: --family must be one of ['logistic', 'gbm']; got {family!r}", err=True)
        raise typer.Exit(code=2)
    path = write_synthetic(
        out_dir, rows=rows, disparity=disparity, seed=seed, family=family, name=name
    )
    typer.echo(str(path))


@app.command()
@user_errors
def demo(as_json: JsonFlag = False) -> None:
    """The main job: train and register every shipped use case."""
    from docket.usecases import SHIPPED_DIR, resolve_spec
    from models.settings import Settings
    from training.train import train_use_case

    settings = Settings.from_env()
    progress(f"Docket state in {settings.home} (MLflow: {settings.tracking_uri})")
    results = []
    for path in sorted(SHIPPED_DIR.glob("*.toml")):
        spec = resolve_spec(str(path))
        results.append(train_use_case(spec, settings, progress=progress).to_dict())
    emit(results, as_json, lambda rs: "\n".join(_train_line(r) for r in rs))


def main() -> None:
    app(prog_name="docket")


if __name__ == "__main__":  # pragma: no cover
    main()
