"""`python -m corridor.bitcoin.devnode [--datadir DIR] [--rpcport PORT] [--rpcuser U --rpcpassword P]`."""

from __future__ import annotations

import argparse
from pathlib import Path

from corridor.bitcoin.devnode import DEFAULT_RPC_HOST, DEFAULT_RPC_PORT, serve


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="corridor-devnode", description="Corridor's regtest devnode.")
    parser.add_argument("--datadir", type=Path, default=None, help="data directory (default: in memory)")
    parser.add_argument("--rpcbind", default=DEFAULT_RPC_HOST, help="localhost address to listen on")
    parser.add_argument("--rpcport", type=int, default=DEFAULT_RPC_PORT)
    parser.add_argument("--rpcuser", default=None)
    parser.add_argument("--rpcpassword", default=None)
    parser.add_argument("--chain", default="regtest", help="only 'regtest' is accepted")
    args = parser.parse_args(argv)
    if args.chain != "regtest":
        parser.error("the devnode is regtest-only")
    serve(args.datadir, args.rpcbind, args.rpcport, args.rpcuser, args.rpcpassword)


if __name__ == "__main__":
    main()
