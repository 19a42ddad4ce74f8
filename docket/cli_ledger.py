"""`docket ledger`: verify the decision ledger, and sign and witness its checkpoints.

``docket log`` is kept as a hidden alias of the same commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from docket.app import JsonFlag, app, emit, open_ledger

if TYPE_CHECKING:
    from serving.ledger import DecisionLog

ledger_app = typer.Typer(
    help="The decision ledger: verify it, sign checkpoints of it, and publish them to witnesses.",
    no_args_is_help=True,
)
app.add_typer(ledger_app, name="ledger")
app.add_typer(ledger_app, name="log", hidden=True)


def _home() -> Path:
    from models.settings import Settings

    return Settings.from_env().home


def _key_error(error: Exception) -> typer.Exit:
    typer.echo(f"error: {error}", err=True)
    return typer.Exit(code=2)


def _public_key(path: Path | None) -> bytes:
    from serving.ledger.signing import LedgerKeyError, load_public_key, load_signer

    try:
        if path is not None:
            return load_public_key(path)
        return load_signer(_home()).public_key
    except LedgerKeyError as error:
        raise _key_error(
            ValueError(f"{error} Or pass the published key with --public-key PATH.")
        ) from None


def _verify_line(r: dict[str, Any]) -> str:
    # the first line keeps the form scripts read: "ok: …" or "BROKEN at seq N …"
    mismatches = r.get("history_mismatches") or []
    if r["ok"]:
        lines = [f"ok: {r['entries_checked']} entries verified"]
    elif r["first_broken_seq"] is None and mismatches:
        # the chain holds; only the promotion history's two copies disagree
        lines = [
            f"MISMATCH: {r['entries_checked']} entries verified, but {len(mismatches)} promotion"
            " history event(s) differ between the ledger and the MLflow history tags"
        ]
    else:
        lines = [
            f"BROKEN at seq {r['first_broken_seq']} (entry {r['first_broken_entry_id']}):"
            f" {r['problem']}: {r['detail']}"
        ]
    checks = r["checkpoints"]
    if checks is None:
        lines.append(
            "chain only: a rewrite with every hash recomputed needs --checkpoints PATH to be seen"
        )
    elif checks["ok"]:
        lines.append(
            f"checkpoints: {checks['checkpoints_checked']} signed checkpoint(s) up to tree "
            f"size {checks['largest_checkpoint']} match the ledger ({checks['tree_size']} "
            f"entries); {checks['consistency_proofs']} consistency proof(s) verified"
        )
    elif not r["chain"]["ok"]:
        lines.append(
            f"checkpoints also fail from seq {checks['first_differing_seq']}: {checks['detail']}"
        )
    lines += [f"history: {m['line']}" for m in mismatches]
    return "\n".join(lines)


def _history_mismatches(store: DecisionLog) -> list[dict[str, Any]]:
    """The promotion history of every registered use case, ledger against MLflow tags."""
    from models import registry
    from models.settings import Settings
    from serving.access.promotions import history_mismatches

    client = registry.connect(Settings.from_env())
    names = registry.registered_names(client)
    return [{**m.to_dict(), "line": m.line()} for m in history_mismatches(client, store, names)]


@ledger_app.command("verify")
def ledger_verify(
    checkpoints: Annotated[
        Path | None,
        typer.Option(
            "--checkpoints",
            help="A witness folder or .jsonl file of signed checkpoints to check the ledger against.",
        ),
    ] = None,
    public_key: Annotated[
        Path | None,
        typer.Option(
            "--public-key",
            help="The ledger's public key (PEM or raw); default: from the signing key.",
        ),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Check the hash chain and, with --checkpoints, the signed checkpoints. Exit 1 if broken.

    Also compares each registered use case's promotion history in the ledger with
    its MLflow history tags; any event on one side only, or differing, fails too.
    """
    from serving.ledger.checkpoints import verify_against_witness
    from serving.ledger.witness import WitnessReadError

    store = open_ledger()
    chain = store.verify()
    out: dict[str, Any] = {**chain.to_dict(), "chain": chain.to_dict(), "checkpoints": None}
    ok = chain.ok
    if checkpoints is not None:
        key = _public_key(public_key)
        try:
            result = verify_against_witness(store, checkpoints, key)
        except WitnessReadError as error:
            raise _key_error(error) from None
        out["checkpoints"] = result.to_dict()
        if chain.ok and not result.ok:
            out.update(
                first_broken_seq=result.first_differing_seq,
                first_broken_entry_id=None,
                problem=result.problem,
                detail=result.detail,
            )
        ok = ok and result.ok
    mismatches = _history_mismatches(store)
    out["history_mismatches"] = mismatches
    out["ok"] = ok and not mismatches
    emit(out, as_json, _verify_line)
    if not out["ok"]:
        raise typer.Exit(code=1)


@ledger_app.command("keygen")
def ledger_keygen(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Key file to create (default: $DOCKET_LEDGER_KEY_FILE or <home>/ledger-signing.key).",
        ),
    ] = None,
) -> None:
    """Create the Ed25519 key that signs checkpoints (never overwrites one)."""
    from serving.ledger.signing import LedgerKeyError, generate_key, key_file_path

    path = out if out is not None else key_file_path(_home())
    try:
        signer = generate_key(path)
    except LedgerKeyError as error:
        raise _key_error(error) from None
    typer.echo(f"created {path} (mode 0600) and {path}.pub", err=True)
    typer.echo(
        "keep the key out of reach of the database's administrators; publish the public key",
        err=True,
    )
    typer.echo(f"log id {signer.log_id}")
    typer.echo(signer.public_key_pem(), nl=False)


@ledger_app.command("public-key")
def ledger_public_key(as_json: JsonFlag = False) -> None:
    """Print the public key that verifies the checkpoints (PEM) and the log id."""
    from serving.ledger.signing import LedgerKeyError, load_signer

    try:
        signer = load_signer(_home())
    except LedgerKeyError as error:
        raise _key_error(error) from None
    emit(
        {"log_id": signer.log_id, "public_key_pem": signer.public_key_pem()},
        as_json,
        lambda r: r["public_key_pem"].rstrip("\n"),
    )


def _checkpoint_line(r: dict[str, Any]) -> str:
    cp = r["checkpoint"]
    lines = [f"checkpoint: tree size {cp['tree_size']}, root {cp['root_hash']}, {cp['timestamp']}"]
    for sink in r["sinks"]:
        state = "ok" if sink["ok"] else f"FAILED: {sink['error']}"
        lines.append(f"  {sink['sink']}: {state}")
    return "\n".join(lines)


@ledger_app.command("checkpoint")
def ledger_checkpoint(as_json: JsonFlag = False) -> None:
    """Sign a checkpoint of the ledger now and write it to the witness sinks ($DOCKET_WITNESS).

    Exit 1 if a sink could not be written (the checkpoint still went to the others).
    """
    from serving.ledger.checkpoints import publish_checkpoint
    from serving.ledger.signing import LedgerKeyError, load_signer
    from serving.ledger.witness import WitnessSinks

    home = _home()
    try:
        signer = load_signer(home)
    except LedgerKeyError as error:
        raise _key_error(error) from None
    checkpoint, results = publish_checkpoint(open_ledger(), signer, WitnessSinks.from_env(home))
    out = {
        "checkpoint": checkpoint.model_dump(),
        "sinks": [{"sink": r.sink, "ok": r.ok, "error": r.error} for r in results],
    }
    emit(out, as_json, _checkpoint_line)
    if not all(r.ok for r in results):
        raise typer.Exit(code=1)
