"""`corridor bench`: find the benchmark modules under bench/ and run them.

Each module ``bench/bench_<name>.py`` exposes ``run(quick: bool) -> list[dict]`` returning figures
``{"name", "value", "unit", "goal", "baseline"}``.
"""

from __future__ import annotations

import importlib.util
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
    figures: list[dict[str, Any]] = []
    for name in names or list(modules):
        spec = importlib.util.spec_from_file_location(f"corridor_bench_{name}", modules[name])
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        figures.extend(module.run(quick))
    return figures
