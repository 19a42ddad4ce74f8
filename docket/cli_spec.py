"""`docket spec`: list, validate (registered on the app's ``spec`` group)."""

from __future__ import annotations

from typing import Annotated

import typer

from docket.app import JsonFlag, emit, spec_app, user_errors


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
