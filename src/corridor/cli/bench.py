"""`corridor bench`: find the benchmark modules under bench/ and run them.

Each module ``bench/bench_<name>.py`` exposes ``run(quick: bool) -> list[dict]`` returning figures
``{"name", "value", "unit", "goal", "baseline"}``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any


def bench_dir() -> Path:
    for folder in (Path.cwd(), *Path(__file__).resolve().parents):
        candidate = folder / "bench"
        if candidate.is_dir() and any(candidate.glob("bench_*.py")):
            return candidate
    raise LookupError("no bench/ folder found: run from a checkout of the repository")


def available() -> dict[str, Path]:
    return {path.stem.removeprefix("bench_"): path for path in sorted(bench_dir().glob("bench_*.py"))}


def run_benchmarks(names: list[str], quick: bool) -> list[dict[str, Any]]:
    modules = available()
    unknown = [name for name in names if name not in modules]
    if unknown:
        raise LookupError(f"unknown benchmark(s) {', '.join(unknown)}; available: {', '.join(modules)}")
    if str(bench_dir()) not in sys.path:  # the benchmarks share bench/_support.py
        sys.path.insert(0, str(bench_dir()))
    figures: list[dict[str, Any]] = []
    for name in names or list(modules):
        spec = importlib.util.spec_from_file_location(f"corridor_bench_{name}", modules[name])
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        figures.extend(module.run(quick))
    return figures


START_MARK = "<!-- figures:start -->"
END_MARK = "<!-- figures:end -->"


def describe_baseline(baseline: object) -> str:
    """A baseline is either a bare number in the figure's unit or ``{"name", "value", "unit"}``."""
    if isinstance(baseline, dict):
        return f"{baseline.get('name')}: {baseline.get('value')} {baseline.get('unit', '')}".strip()
    return "" if baseline is None else str(baseline)


def figures_table(figures: list[dict[str, Any]], when: str) -> str:
    lines = [
        f"Measured {when} by `corridor bench` (full sizes) on this project's 2-core machine.",
        "",
        "| figure | value | unit | goal | baseline (same run) |",
        "|---|---|---|---|---|",
    ]
    for item in figures:
        lines.append(
            f"| `{item['name']}` | {item['value']} | {item['unit']} | {item.get('goal') or ''} | "
            f"{describe_baseline(item.get('baseline'))} |"
        )
    return "\n".join(lines)


def write_performance_doc(figures: list[dict[str, Any]], when: str) -> Path:
    """Replace the figures section of docs/performance.md (between its markers) with this run's."""
    doc = bench_dir().parent / "docs" / "performance.md"
    text = doc.read_text() if doc.exists() else f"# Performance\n\n{START_MARK}\n{END_MARK}\n"
    if START_MARK not in text or END_MARK not in text:
        text += f"\n{START_MARK}\n{END_MARK}\n"
    head, rest = text.split(START_MARK, 1)
    _, tail = rest.split(END_MARK, 1)
    doc.write_text(f"{head}{START_MARK}\n{figures_table(figures, when)}\n{END_MARK}{tail}")
    return doc
