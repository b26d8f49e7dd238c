"""The servers `smsc-harness bench` measures, each started as its own process (issue 13).

Each one prints `NAME: SMPP on HOST:PORT` (or serve's banner) as its first stdout line once it
listens, and stops with exit status 0 on SIGTERM. This module starts them, reads that line,
and stops them:

- `start_sink`: `smsc-harness sink`, one of our simulated operator SMSCs alone (the bench
  network's profile: caps off, every message DELIVRD, receipts at once);
- `start_serve_bench`: `smsc-harness serve --bench`, the whole stack on the bench network;
- `start_responder`: `python -m smsc.bench.peers.responder`, a raw asyncio responder that
  only frames and answers (the ceiling of plain Python I/O);
- `start_npm_smpp`: `npm_smpp_server.js`, a server built with the npm `smpp` 0.5.1 package
  on Node.js, a peer users could pick instead of ours; `ensure_npm_smpp` installs the
  package from the npm registry into a cache folder the first time;
- `start_peer`: any such command; `stop`: SIGTERM, then the exit status.

Each `start_*` returns a `Peer`, which unpacks as `(process, host, port)`. Only the standard
library here: these are processes, not imports (smsc imports nothing above it, and the sink
is reached as `python -m cli sink`, the command line, not imported).
"""

from __future__ import annotations

import os
import re
import selectors
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, NamedTuple, Sequence

__all__ = [
    "NPM_SMPP_VERSION", "Peer", "PeerError", "default_cache_dir", "ensure_npm_smpp", "listening_address",
    "npm_smpp_command", "responder_command", "sink_command", "start_npm_smpp", "start_peer", "start_responder",
    "start_serve_bench", "start_sink", "stop",
]

NPM_SMPP_VERSION = "0.5.1"                 # the version of the figures
NPM_SMPP_SERVER = Path(__file__).resolve().parent / "npm_smpp_server.js"
START_TIMEOUT = 30.0                       # seconds a peer may take to print its first line
INSTALL_TIMEOUT = 300.0                    # seconds `npm install` may take (a first download)
STOP_TIMEOUT = 10.0                        # seconds after SIGTERM before SIGKILL
# `... SMPP on HOST:PORT` or serve's `... SMPP server on HOST:PORT`: the first line's contract.
_LISTENING = re.compile(r"SMPP (?:server )?on (?P<host>\[[^\]]+\]|[^\s:]+):(?P<port>[0-9]+)")


def listening_address(line: str) -> tuple[str, int] | None:
    """(host, port) from a server's first stdout line (the contract above), brackets of an
    IPv6 host removed; None when the line names no address. `smsc-harness bench` reads it
    over Twisted, `start_peer` from a pipe: both read it here."""
    match = _LISTENING.search(line)
    if match is None or not 0 < int(match.group("port")) <= 65535:
        return None
    return match.group("host").strip("[]"), int(match.group("port"))


class PeerError(RuntimeError):
    """A peer that cannot be installed or started; the message says why (for one line)."""


class Peer(NamedTuple):
    process: subprocess.Popen[bytes]
    host: str
    port: int


def start_peer(argv: Sequence[str], env: dict[str, str] | None = None, timeout: float = START_TIMEOUT,
               cwd: str | os.PathLike[str] | None = None, stderr: int | IO[bytes] | None = None) -> Peer:
    """Start `argv`, wait up to `timeout` seconds for its first stdout line and read HOST:PORT
    from it. Its stderr is `stderr` (default: this process's); what it writes to stdout after
    the first line is read and dropped (a full pipe would stop it). Raises PeerError (the
    process stopped) if it exits first, says something else, or says nothing in time."""
    process = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr,
                               env=env, cwd=cwd)
    assert process.stdout is not None
    try:
        line = _first_line(process.stdout, timeout)
    except PeerError as error:
        stop(process)
        raise PeerError(f"{argv[0]} {' '.join(argv[1:3])}...: {error}") from None
    address = listening_address(line)
    if address is None:
        status = stop(process)
        raise PeerError(f"{argv[0]}: unexpected first line {line!r} (exit status {status})")
    threading.Thread(target=_drain, args=(process.stdout,), daemon=True).start()
    return Peer(process, *address)


def stop(process: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> int:
    """SIGTERM, wait up to `timeout` seconds, then SIGKILL; the exit status (negative: the
    signal that ended it)."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()


def sink_command(host: str = "127.0.0.1", port: int = 0, receipts: bool = True, system_id: str = "aggregator",
                 password: str = "secret", log_level: str = "warn") -> list[str]:
    """The argv of `smsc-harness sink` (as `python -m cli sink`) with this interpreter."""
    return [sys.executable, "-m", "cli", "sink", "--host", host, "--port", str(port),
            "--receipts" if receipts else "--no-receipts", "--system-id", system_id,
            "--password", password, "--log-level", log_level]


def start_sink(host: str = "127.0.0.1", port: int = 0, receipts: bool = True, system_id: str = "aggregator",
               password: str = "secret", log_level: str = "warn") -> Peer:
    """`smsc-harness sink` (as `python -m cli sink`) with this interpreter."""
    return start_peer(sink_command(host, port, receipts, system_id, password, log_level))


def start_serve_bench(db: str | os.PathLike[str], port: int = 0, control_port: int = 0,
                      log_level: str = "warn") -> Peer:
    """`smsc-harness serve --bench` (as `python -m cli serve`) with this interpreter, its store
    at `db` (the caller removes it with its -wal and -shm files)."""
    return start_peer([sys.executable, "-m", "cli", "serve", "--bench", "--port", str(port),
                       "--control-port", str(control_port), "--db", str(db), "--log-level", log_level])


def responder_command(host: str = "127.0.0.1", port: int = 0) -> list[str]:
    """The argv of the raw responder (smsc/bench/peers/responder.py) with this interpreter."""
    return [sys.executable, "-m", "smsc.bench.peers.responder", "--host", host, "--port", str(port)]


def start_responder(host: str = "127.0.0.1", port: int = 0) -> Peer:
    """The raw responder (smsc/bench/peers/responder.py) with this interpreter."""
    return start_peer(responder_command(host, port))


def default_cache_dir() -> Path:
    """Where `ensure_npm_smpp` installs by default: $XDG_CACHE_HOME (or ~/.cache)/smsc-harness/npm."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "smsc-harness" / "npm"


def ensure_npm_smpp(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The `node_modules` folder holding npm `smpp` NPM_SMPP_VERSION under `cache_dir`
    (default: `default_cache_dir()`), running `npm install --prefix CACHE smpp@VERSION` first
    when it is not there. Raises PeerError when npm is missing or the install fails (no
    network, say), with npm's last lines."""
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    modules = cache / "node_modules"
    if _installed_version(modules) == NPM_SMPP_VERSION:
        return modules
    npm = shutil.which("npm")
    if npm is None:
        raise PeerError("npm is not on PATH: the npm smpp peer needs Node.js (20 or later) and npm")
    cache.mkdir(parents=True, exist_ok=True)
    argv = [npm, "install", "--prefix", str(cache), "--no-audit", "--no-fund", "--no-save",
            f"smpp@{NPM_SMPP_VERSION}"]
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=INSTALL_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise PeerError(f"npm install smpp@{NPM_SMPP_VERSION} took more than {INSTALL_TIMEOUT:g} s") from None
    if done.returncode != 0 or _installed_version(modules) != NPM_SMPP_VERSION:
        tail = " | ".join((done.stderr or done.stdout).strip().splitlines()[-3:])
        raise PeerError(f"npm install smpp@{NPM_SMPP_VERSION} into {cache} failed "
                        f"(exit status {done.returncode}): {tail}")
    return modules


def npm_smpp_command(cache_dir: str | os.PathLike[str] | None = None, host: str = "127.0.0.1", port: int = 0,
                     receipts: bool = False) -> tuple[list[str], dict[str, str]]:
    """The argv and environment of npm_smpp_server.js on Node.js, with npm `smpp` from
    `ensure_npm_smpp(cache_dir)` (installed first if need be: this may take minutes and
    blocks). Raises PeerError when node is missing or the package cannot be installed."""
    node = shutil.which("node")
    if node is None:
        raise PeerError("node is not on PATH: the npm smpp peer needs Node.js (20 or later) and npm")
    modules = ensure_npm_smpp(cache_dir)
    env = dict(os.environ, NODE_PATH=str(modules))
    argv = [node, str(NPM_SMPP_SERVER), "--host", host, "--port", str(port)]
    return ([*argv, "--receipts"] if receipts else argv), env


def start_npm_smpp(cache_dir: str | os.PathLike[str] | None = None, host: str = "127.0.0.1", port: int = 0,
                   receipts: bool = False) -> Peer:
    """npm_smpp_server.js on Node.js, with npm `smpp` from `ensure_npm_smpp(cache_dir)`.
    Raises PeerError when node is missing or the package cannot be installed."""
    argv, env = npm_smpp_command(cache_dir, host, port, receipts)
    return start_peer(argv, env=env)


def _installed_version(modules: Path) -> str | None:
    try:
        text = (modules / "smpp" / "package.json").read_text(encoding="utf-8")
    except OSError:
        return None
    match = re.search(r'"version"\s*:\s*"([^"]+)"', text)
    return match.group(1) if match else None


def _first_line(stream: IO[bytes], timeout: float) -> str:
    """One line from a pipe within `timeout` real seconds (select, then os.read: a buffered
    readline could block past the deadline)."""
    deadline = time.monotonic() + timeout
    data = b""
    fd = stream.fileno()
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        while b"\n" not in data:
            left = deadline - time.monotonic()
            if left <= 0:
                raise PeerError(f"said nothing within {timeout:g} s")
            if not selector.select(left):
                continue
            chunk = os.read(fd, 4096)
            if not chunk:
                raise PeerError("exited before it listened" if not data else f"exited after {data!r}")
            data += chunk
    return data.split(b"\n", 1)[0].decode("utf-8", "replace")


def _drain(stream: IO[bytes]) -> None:
    try:
        while os.read(stream.fileno(), 65536):
            pass
    except OSError:
        pass
