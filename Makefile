# The two commands of the README, and a few helpers around them.
.PHONY: up test lint bench install install-dev

install:
	scripts/setup.sh

install-dev:
	scripts/setup.sh dev

## Install and start the platform on its embedded defaults (SQLite under ./var, HTTP on 127.0.0.1:8000).
up: install
	.venv/bin/corridor up

## Install everything and run the whole test suite (lint, types, tests on SQLite and PostgreSQL).
test: install-dev
	.venv/bin/ruff check src tests bench
	.venv/bin/ruff format --check src tests bench
	.venv/bin/mypy
	.venv/bin/pytest -n 2 --dist loadgroup -q

lint: install-dev
	.venv/bin/ruff check src tests bench
	.venv/bin/mypy

bench: install-dev
	.venv/bin/corridor bench --json
