"""`corridor participants …`: KYB from the command line, acting as the holder of an API key.

Every command authenticates with ``--key`` (or ``CORRIDOR_API_KEY``), so a decision is made by a named
officer exactly as over HTTP; the request bodies are the API's JSON, read from a file or stdin.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from corridor.access.model import Principal
from corridor.access.service import authenticate
from corridor.cli.context import open_database
from corridor.db import Database
from corridor.errors import CorridorError
from corridor.identity import api, service
from corridor.identity.model import AdmissionIn

participants_app = typer.Typer(
    help="Participants and KYB (application, screening, decision, admission).", no_args_is_help=True
)

KeyOption = Annotated[
    str, typer.Option("--key", envvar="CORRIDOR_API_KEY", help="API key of the acting user.")
]


def session_for(key: str) -> tuple[Database, Principal]:
    db = open_database()
    return db, authenticate(db, key)


def read_json(path: str) -> Any:
    text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    return json.loads(text)


def emit(result: Any) -> None:
    typer.echo(json.dumps(result, default=str, sort_keys=True))


def run(action: Any) -> None:
    """Print the result as JSON; a domain error prints its code and exits 2."""
    try:
        emit(action())
    except CorridorError as error:
        typer.echo(
            json.dumps({"code": error.code, "detail": error.detail, **error.extra}, default=str), err=True
        )
        raise typer.Exit(2) from None


@participants_app.command("apply")
def apply(
    file: Annotated[str, typer.Argument(help="Application JSON (as POST /v1/participants), or -.")],
    key: KeyOption,
) -> None:
    """File an application; its parties are screened at once."""
    db, principal = session_for(key)

    def action() -> Any:
        body = api.ApplicationBody.model_validate(read_json(file))
        docs = [d.to_document() for d in body.documents]
        return api.view_out(service.submit_application(db, principal, body.to_application(), docs))

    run(action)


@participants_app.command("show")
def show(participant_id: str, key: KeyOption) -> None:
    db, principal = session_for(key)
    run(lambda: api.view_out(service.get_participant(db, principal, participant_id)))


@participants_app.command("list")
def list_(key: KeyOption, status: Annotated[str | None, typer.Option()] = None) -> None:
    db, principal = session_for(key)
    run(lambda: [api.participant_out(p) for p in service.list_participants(db, principal, status)])


@participants_app.command("screen")
def screen(participant_id: str, key: KeyOption) -> None:
    """Ask the screening gate again about every party not yet clear."""
    db, principal = session_for(key)
    run(lambda: api.view_out(service.rescreen(db, principal, participant_id)))


@participants_app.command("clear")
def clear(participant_id: str, subject: str, key: KeyOption, reason: Annotated[str, typer.Option()]) -> None:
    """Record a named officer's manual screening clearance of one party, with a reason."""
    db, principal = session_for(key)
    run(lambda: api.view_out(service.clear_screening(db, principal, participant_id, subject, reason)))


@participants_app.command("review")
def review(participant_id: str, key: KeyOption, notes: Annotated[str, typer.Option()]) -> None:
    db, principal = session_for(key)
    run(lambda: api.view_out(service.review(db, principal, participant_id, notes)))


@participants_app.command("approve")
def approve(participant_id: str, key: KeyOption, reason: Annotated[str, typer.Option()]) -> None:
    db, principal = session_for(key)
    run(lambda: api.view_out(service.decide(db, principal, participant_id, True, reason)))


@participants_app.command("reject")
def reject(participant_id: str, key: KeyOption, reason: Annotated[str, typer.Option()]) -> None:
    db, principal = session_for(key)
    run(lambda: api.view_out(service.decide(db, principal, participant_id, False, reason)))


@participants_app.command("admit")
def admit(
    participant_id: str, file: Annotated[str, typer.Argument(help="Admission JSON, or -.")], key: KeyOption
) -> None:
    """Record the admission (reference, validity, limits) from a JSON body like POST …/admission."""
    db, principal = session_for(key)

    def action() -> Any:
        body = api.AdmissionBody.model_validate(read_json(file))
        admission = AdmissionIn(
            body.reference,
            body.admitted_on,
            body.valid_to,
            body.per_transaction_limit_rub_minor,
            body.per_period_limit_rub_minor,
        )
        return api.view_out(service.admit(db, principal, participant_id, admission))

    run(action)


@participants_app.command("status")
def change_status(
    participant_id: str,
    change: Annotated[str, typer.Argument(help="suspend, reinstate or exclude")],
    key: KeyOption,
    reason: Annotated[str, typer.Option()],
) -> None:
    db, principal = session_for(key)
    run(lambda: api.view_out(service.change_status(db, principal, participant_id, change, reason)))
