"""`corridor contracts …`: register and inspect foreign-trade contracts, acting as an API key's holder."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import typer

from corridor.cli.participants import KeyOption, read_json, run, session_for
from corridor.contracts import api, service

contracts_app = typer.Typer(help="Foreign-trade contracts, UNK, statement.", no_args_is_help=True)


@contracts_app.command("register")
def register(
    file: Annotated[str, typer.Argument(help="Contract JSON (as POST /v1/contracts), or -.")], key: KeyOption
) -> None:
    db, principal = session_for(key)

    def action() -> Any:
        body = api.ContractBody.model_validate(read_json(file))
        return api.register_contract(body, db, principal)

    run(action)


@contracts_app.command("show")
def show(contract_id: str, key: KeyOption) -> None:
    db, principal = session_for(key)
    run(lambda: api.view_out(service.get_contract(db, principal, contract_id)))


@contracts_app.command("list")
def list_(key: KeyOption, participant: Annotated[str | None, typer.Option()] = None) -> None:
    db, principal = session_for(key)
    run(lambda: [api.contract_out(c) for c in service.list_contracts(db, principal, participant)])


@contracts_app.command("unk")
def unk(
    contract_id: str,
    value: str,
    key: KeyOption,
    registered_on: Annotated[str, typer.Option(help="YYYY-MM-DD")],
) -> None:
    """Store the bank's UNK after checking it against the contract."""
    db, principal = session_for(key)
    run(
        lambda: api.view_out(
            service.register_unk(db, principal, contract_id, value, date.fromisoformat(registered_on))
        )
    )


@contracts_app.command("clear")
def clear(contract_id: str, subject: str, key: KeyOption, reason: Annotated[str, typer.Option()]) -> None:
    """A named officer's manual clearance of the counterparty, its VASP or its wallet."""
    db, principal = session_for(key)
    run(lambda: api.view_out(service.clear_counterparty(db, principal, contract_id, subject, reason)))


@contracts_app.command("statement")
def statement(
    contract_id: str, key: KeyOption, as_of: Annotated[str | None, typer.Option(help="YYYY-MM-DD")] = None
) -> None:
    db, principal = session_for(key)
    run(lambda: api.statement(contract_id, db, principal, date.fromisoformat(as_of) if as_of else None))
