"""`corridor lists load` and `corridor screen`: sanctions lists and screening from the command line.

Both act as the system principal ``system:cli``. ``corridor screen`` exits 0 when every query is clean,
1 when any is a hit, and 2 on an error (for example when no list has been loaded).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from corridor.access.model import system_principal
from corridor.cli.context import open_database
from corridor.compliance.screening import service
from corridor.compliance.screening.model import EntitySchema, PartyQuery
from corridor.compliance.screening.sources import ListFormat
from corridor.errors import CorridorError

lists_app = typer.Typer(
    help="Sanctions lists: load a published list file as a new version.", no_args_is_help=True
)


def _fail(error: CorridorError) -> typer.Exit:
    typer.echo(json.dumps({"code": error.code, "detail": error.detail}), err=True)
    return typer.Exit(2)


@lists_app.command("load")
def load(
    path: Annotated[Path, typer.Argument(exists=True, help="The list file.")],
    list_format: Annotated[ListFormat, typer.Option("--format", help="Format of the file.")],
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Parse a list file and store it as the current version of its source, with its diff."""
    db = open_database()
    try:
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            disable=quiet,
            transient=True,
        ) as bar:
            task = bar.add_task(f"parsing {path.name}", total=None)

            def progress(done: int, total: int | None) -> None:
                bar.update(task, completed=done, total=total)

            result = service.load_list_file(db, system_principal("cli"), path, list_format, progress)
    except CorridorError as error:
        raise _fail(error) from None
    finally:
        db.dispose()
    version = result.version
    typer.echo(
        json.dumps(
            {"created": result.created, **version.as_dict()},
            sort_keys=True,
        )
    )


def _summary(view: dict[str, Any]) -> dict[str, Any]:
    query = view["query"]
    return {
        "query": query.get("name", query.get("address")),
        "hit": view["hit"],
        "screening_id": view["id"],
        "matches": [
            {
                "caption": c["caption"],
                "entity_ref": c["entity_ref"],
                "score": c["score"],
                "list_version_id": c["list_version_id"],
            }
            for c in view["candidates"]
        ],
        "list_versions": [v["id"] for v in view["list_versions"]],
    }


def _print_human(summary: dict[str, Any]) -> None:
    verdict = "HIT" if summary["hit"] else "clear"
    typer.echo(f"{summary['query']}: {verdict} ({summary['screening_id']})")
    for match in summary["matches"]:
        typer.echo(f"  {match['score']:.3f}  {match['caption']}  [{match['entity_ref']}]")


def screen_command(
    name: Annotated[str | None, typer.Option("--name", help="Name of a party to screen.")] = None,
    address: Annotated[str | None, typer.Option("--address", help="A wallet address to screen.")] = None,
    asset: Annotated[str | None, typer.Option("--asset", help="Asset of --address (default: any).")] = None,
    file: Annotated[
        Path | None, typer.Option("--file", exists=True, help="A file with one name per line.")
    ] = None,
    schema: Annotated[str, typer.Option("--schema", help="Person, Company, Organization or LegalEntity.")] = (
        "LegalEntity"
    ),
    country: Annotated[str | None, typer.Option("--country", help="ISO country code.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per query, per line.")] = False,
) -> None:
    """Screen a name, a file of names or a wallet address; exit 0 when clean, 1 on any hit."""
    chosen = [option for option in (name, address, file) if option is not None]
    if len(chosen) != 1:
        typer.echo("give exactly one of --name, --address, --file", err=True)
        raise typer.Exit(2)
    try:
        entity_schema = EntitySchema(schema)
    except ValueError:
        typer.echo(f"unknown schema {schema!r}", err=True)
        raise typer.Exit(2) from None
    countries = (country.lower(),) if country else ()
    db = open_database()
    principal = system_principal("cli")
    try:
        if address is not None:
            views = [service.screen_address(db, principal, address, asset)]
        else:
            names = [name] if name is not None else _names(file)
            queries = [PartyQuery(name=n, schema=entity_schema, countries=countries) for n in names]
            views = service.screen(db, principal, queries)
    except CorridorError as error:
        raise _fail(error) from None
    finally:
        db.dispose()
    any_hit = False
    for view in views:
        summary = _summary(view)
        any_hit = any_hit or summary["hit"]
        if as_json:
            typer.echo(json.dumps(summary, ensure_ascii=False, sort_keys=True))
        else:
            _print_human(summary)
    raise typer.Exit(1 if any_hit else 0)


def _names(file: Path | None) -> list[str]:
    assert file is not None
    return [line.strip() for line in file.read_text(encoding="utf-8").splitlines() if line.strip()]
