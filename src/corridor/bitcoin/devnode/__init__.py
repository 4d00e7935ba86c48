"""The devnode: a regtest Bitcoin node on libbitcoinkernel that speaks Bitcoin Core's JSON-RPC.

In-process (tests, `corridor up`):

    running = start_devnode()            # in memory, random port
    running.url                          # http://user:pass@127.0.0.1:PORT
    running.stop()

Standalone: `serve(...)` blocks until SIGINT/SIGTERM or the `stop` RPC; `python -m
corridor.bitcoin.devnode --datadir DIR --rpcport PORT` runs it from a shell.
"""

from __future__ import annotations

import signal
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from corridor.bitcoin.devnode.methods import RpcMethods
from corridor.bitcoin.devnode.node import DevNode
from corridor.bitcoin.devnode.rpcserver import COOKIE_USER, Credentials, RpcServer, write_cookie

DEFAULT_RPC_PORT = 18443
DEFAULT_RPC_HOST = "127.0.0.1"

__all__ = ["DEFAULT_RPC_PORT", "DevNode", "RunningDevnode", "serve", "start_devnode"]


@dataclass
class RunningDevnode:
    node: DevNode
    server: RpcServer
    rpc_user: str
    rpc_password: str
    cookie_file: Path | None
    stopped: threading.Event = field(default_factory=threading.Event)
    _stop_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def url(self) -> str:
        return f"http://{self.rpc_user}:{self.rpc_password}@{self.server.host}:{self.server.port}"

    def stop(self) -> None:
        with self._stop_lock:
            if self.stopped.is_set():
                return
            self.server.stop()
            self.node.close()
            if self.cookie_file is not None:
                self.cookie_file.unlink(missing_ok=True)
            self.stopped.set()

    def wait(self) -> None:
        self.stopped.wait()


def start_devnode(
    datadir: Path | None = None,
    port: int = 0,
    *,
    host: str = DEFAULT_RPC_HOST,
    rpc_user: str | None = None,
    rpc_password: str | None = None,
    min_relay_sat_per_kvb: int = 1000,
    full_rbf: bool = False,
) -> RunningDevnode:
    """Start a devnode and its RPC server in this process.

    `datadir=None` keeps everything in memory (and a temporary directory for block files) and is
    gone after `stop()`. `port=0` picks a free port. Without `rpc_user`/`rpc_password` the cookie
    credentials are used in `url`; the cookie file is written in either case, as bitcoind does.
    """
    if host not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError("the devnode only listens on localhost")
    if (rpc_user is None) != (rpc_password is None):
        raise ValueError("give both rpc_user and rpc_password, or neither")
    node = DevNode(datadir, min_relay_sat_per_kvb=min_relay_sat_per_kvb, full_rbf=full_rbf)
    try:
        cookie_file = node.datadir / "regtest" / ".cookie"
        cookie_password = write_cookie(cookie_file)
        pairs = [(COOKIE_USER, cookie_password)]
        if rpc_user is not None and rpc_password is not None:
            pairs.append((rpc_user, rpc_password))
        holder: list[RunningDevnode] = []
        methods = RpcMethods(node, on_stop=lambda: _stop_soon(holder))
        server = RpcServer(methods, host, port, Credentials(tuple(pairs)))
    except BaseException:
        node.close()
        raise
    running = RunningDevnode(
        node=node,
        server=server,
        rpc_user=rpc_user if rpc_user is not None else COOKIE_USER,
        rpc_password=rpc_password if rpc_password is not None else cookie_password,
        cookie_file=cookie_file,
    )
    holder.append(running)
    server.start()
    return running


def _stop_soon(holder: list[RunningDevnode]) -> None:
    # The `stop` RPC answers first; shutting down from inside its own request would cut the reply.
    if holder:
        threading.Timer(0.05, holder[0].stop).start()


def serve(
    datadir: Path | None,
    rpc_host: str = DEFAULT_RPC_HOST,
    rpc_port: int = DEFAULT_RPC_PORT,
    rpc_user: str | None = None,
    rpc_password: str | None = None,
) -> None:
    """Run the devnode until SIGINT/SIGTERM or the `stop` RPC (blocking; call from the main thread)."""
    running = start_devnode(datadir, rpc_port, host=rpc_host, rpc_user=rpc_user, rpc_password=rpc_password)

    def on_signal(_signum: int, _frame: FrameType | None) -> None:
        threading.Thread(target=running.stop).start()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    print(f"corridor devnode (regtest only) listening on {rpc_host}:{running.port}", flush=True)
    if running.cookie_file is not None:
        print(f"cookie file: {running.cookie_file}", flush=True)
    try:
        while not running.stopped.wait(0.5):
            pass
    finally:
        running.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
