"""`corridor lists …`, `corridor screen` and `corridor alerts …`: sanctions lists, screening and the review
of hits from the command line.

``lists`` and ``screen`` act as the system principal ``system:cli``. ``corridor screen`` exits 0 when every
query is clean, 1 when any is a hit, and 2 on an error (for example when no list has been loaded); a hit
is a score at or above the threshold of the profile in force (``CORRIDOR_PROFILE``) unless ``--threshold``
says otherwise.
``lists load`` re-screens every tracked subject after a new version is stored (``--no-rescreen`` skips
only that re-screen; the next one, or ``lists rescreen``, catches up). ``alerts`` commands act as the holder
of an API key (``--key`` or ``CORRIDOR_API_KEY``), so a verdict is a named officer's, as over HTTP; a
verdict (``decide``, ``decide-hit``) takes effect once another officer runs ``confirm`` on it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from corridor.access.model import Principal, system_principal
from corridor.access.service import authenticate
from corridor.cli.context import open_database
from corridor.compliance.screening import review, service
from corridor.compliance.screening.model import EntitySchema, PartyQuery, Verdict
from corridor.compliance.screening.sources import ListFormat
from corridor.db import Database
from corridor.errors import CorridorError

lists_app = typer.Typer(
    help="Sanctions lists: load a published list file as a new version.", no_args_is_help=True
)


def _fail(error: CorridorError) -> typer.Exit:
    typer.echo(json.dumps({"code": error.code, "detail": error.detail}), err=True)
    return typer.Exit(2)


def _progress_bar(quiet: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        disable=quiet,
        transient=True,
    )


def _rescreen(db: Database, principal: Principal, bar: Progress) -> review.RescreenReport:
    task = bar.add_task("re-screening subjects", total=None)

    def progress(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    return review.rescreen_all(db, principal, progress)


@lists_app.command("load")
def load(
    path: Annotated[Path, typer.Argument(exists=True, help="The list file.")],
    list_format: Annotated[ListFormat, typer.Option("--format", help="Format of the file.")],
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
    no_rescreen: Annotated[
        bool,
        typer.Option("--no-rescreen", help="Store the version but do not re-screen tracked subjects now."),
    ] = False,
) -> None:
    """Parse a list file, store it as the current version of its source with its diff, and re-screen every
    tracked participant, owner, director, counterparty and address against it (new hits become alerts)."""
    db = open_database()
    principal = system_principal("cli")
    report = None
    try:
        with _progress_bar(quiet) as bar:
            task = bar.add_task(f"parsing {path.name}", total=None)

            def progress(done: int, total: int | None) -> None:
                bar.update(task, completed=done, total=total)

            result = service.load_list_file(db, principal, path, list_format, progress)
            if result.created and not no_rescreen:
                report = _rescreen(db, principal, bar)
    except CorridorError as error:
        raise _fail(error) from None
    finally:
        db.dispose()
    version = result.version
    out = {"created": result.created, **version.as_dict()}
    out["rescreen"] = None if report is None else report.as_dict()
    typer.echo(json.dumps(out, sort_keys=True))


@lists_app.command("rescreen")
def rescreen(quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False) -> None:
    """Re-screen every tracked subject against the current list versions; new hits become alerts."""
    db = open_database()
    try:
        with _progress_bar(quiet) as bar:
            report = _rescreen(db, system_principal("cli"), bar)
    except CorridorError as error:
        raise _fail(error) from None
    finally:
        db.dispose()
    typer.echo(json.dumps(report.as_dict(), sort_keys=True))


def _summary(view: dict[str, Any]) -> dict[str, Any]:
    query = view["query"]
    return {
        "query": query.get("name", query.get("address")),
        "hit": view["hit"],
        "threshold": view["threshold"],
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
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold", min=0.5, max=1.0, help="Score of a hit (default: the profile's alert threshold)."
        ),
    ] = None,
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
            views = service.screen(db, principal, queries, threshold=threshold)
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


# --- alerts and decisions --------------------------------------------------------------------------------

alerts_app = typer.Typer(
    help="Hits to review: alerts raised by re-screening, officers' verdicts, subjects' standings.",
    no_args_is_help=True,
)

KeyOption = Annotated[
    str, typer.Option("--key", envvar="CORRIDOR_API_KEY", help="API key of the acting user.")
]
ReasonOption = Annotated[str, typer.Option("--reason", help="Why (3-2000 characters); recorded.")]
VerdictOption = Annotated[Verdict, typer.Option("--verdict", help="true_match or false_positive.")]


def _as_key_holder(key: str, action: Any) -> None:
    """Run ``action(db, principal)`` and print its JSON; a domain error prints its code and exits 2."""
    db = open_database()
    try:
        result = action(db, authenticate(db, key))
    except CorridorError as error:
        raise _fail(error) from None
    finally:
        db.dispose()
    typer.echo(json.dumps(result, ensure_ascii=False, sort_keys=True))


@alerts_app.command("list")
def alerts_list(
    key: KeyOption,
    status: Annotated[str, typer.Option("--status", help="open, resolved or all.")] = "open",
    subject: Annotated[str | None, typer.Option("--subject", help="Only this subject's alerts.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 100,
) -> None:
    """Alerts raised by re-screening (open ones by default), newest first."""
    wanted = None if status == "all" else status
    _as_key_holder(key, lambda db, p: review.list_alerts(db, p, wanted, subject, limit))


@alerts_app.command("show")
def alerts_show(alert_id: str, key: KeyOption) -> None:
    _as_key_holder(key, lambda db, p: review.get_alert(db, p, alert_id))


@alerts_app.command("decide")
def alerts_decide(alert_id: str, key: KeyOption, verdict: VerdictOption, reason: ReasonOption) -> None:
    """A compliance officer's verdict on an open alert's hit (pending until another officer confirms it)."""
    _as_key_holder(key, lambda db, p: review.decide_alert(db, p, alert_id, verdict, reason))


@alerts_app.command("decide-hit")
def alerts_decide_hit(
    screening_id: str,
    entity_ref: Annotated[str, typer.Argument(help="The hit's entity_ref, as the screening lists it.")],
    key: KeyOption,
    verdict: VerdictOption,
    reason: ReasonOption,
) -> None:
    """A compliance officer's verdict on a hit of any recorded screening (not only an alert's)."""
    _as_key_holder(key, lambda db, p: review.decide_hit(db, p, screening_id, entity_ref, verdict, reason))


@alerts_app.command("decisions")
def alerts_decisions(
    key: KeyOption,
    status: Annotated[
        str | None, typer.Option("--status", help="pending, confirmed or rejected (default: all).")
    ] = None,
    subject: Annotated[str | None, typer.Option("--subject", help="Only this subject's decisions.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=1000)] = 100,
) -> None:
    """Officers' decisions, newest first; ``--status pending`` lists those awaiting a second officer."""
    _as_key_holder(key, lambda db, p: review.list_decisions(db, p, subject, None, limit, status))


@alerts_app.command("confirm")
def alerts_confirm(decision_id: str, key: KeyOption, reason: ReasonOption) -> None:
    """A second compliance officer confirms a pending decision: it takes effect (maker-checker)."""
    _as_key_holder(key, lambda db, p: review.check_decision(db, p, decision_id, True, reason))


@alerts_app.command("reject")
def alerts_reject(decision_id: str, key: KeyOption, reason: ReasonOption) -> None:
    """A second compliance officer rejects a pending decision: the hit stays open for a new one."""
    _as_key_holder(key, lambda db, p: review.check_decision(db, p, decision_id, False, reason))


@alerts_app.command("standing")
def alerts_standing(subject: str, key: KeyOption) -> None:
    """Where a subject the gate has screened stands (clear, hit or pending), why, and its open alerts."""
    _as_key_holder(key, lambda db, p: review.get_standing(db, p, subject))
