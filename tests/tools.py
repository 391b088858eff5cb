"""The real tools the archive is tested with: pywb, wacz and Chromium, run as their users do.

Each helper finds its tool or skips the test saying what is missing; under ``CI=true`` a missing
tool fails the test instead (CI installs them all: see .ci/run), so a green CI means they ran.
"""

from __future__ import annotations

import importlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
#: pywb's own venv (see the Makefile: pywb's brotlipy would shadow scraper's Brotli)
PYWB_BIN = Path(__file__).resolve().parents[1] / ".venv-pywb" / "bin"
#: Debian's chromium (apt-get install chromium); Playwright never downloads a browser here
CHROMIUM = Path(os.environ.get("SCRAPER_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: how long a tool may take to start on a slow, busy machine (a budget, never a measurement)
START_BUDGET_SECONDS = 120.0


def missing(what: str) -> None:
    """Skip the test (fail it under CI=true) because ``what`` is not installed."""
    message = f"{what} is not installed (make install; apt-get install chromium)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI: {message}")
    pytest.skip(message, allow_module_level=True)


def require(module: str) -> None:
    """Skip the whole test module (fail it under CI=true) when ``module`` cannot be imported."""
    try:
        importlib.import_module(module)
    except ImportError:
        missing(f"{module} (Python)")


def tool(name: str) -> Path:
    """An executable: of pywb's venv, of this venv (``wacz``, ``datasette``), or on PATH."""
    for folder in (PYWB_BIN, BIN):
        if (folder / name).exists():
            return folder / name
    found = shutil.which(name)
    if found is None:
        missing(name)
    return Path(str(found))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    """Return once something listens on 127.0.0.1:port; fail if ``process`` dies first."""
    deadline = time.monotonic() + START_BUDGET_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"exited with {process.returncode} before listening:\n{log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)  # polling for an event (the port opening), not a guessed delay
    pytest.fail(f"not listening on port {port} after {START_BUDGET_SECONDS} s:\n{log.read_text()}")


@contextmanager
def running(args: list[str], *, cwd: Path, port: int, log: Path) -> Iterator[None]:
    """A server process listening on ``port``, stopped (and reaped) afterwards."""
    with log.open("wb") as out:
        process = subprocess.Popen(args, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, process, log)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def pywb(warcs: list[Path], root: Path) -> Iterator[str]:
    """pywb's ``wayback`` on 127.0.0.1 over a collection ``coll`` holding ``warcs`` (WARC or
    WACZ files: pywb unpacks a WACZ's WARCs and index); yields
    the collection's base URL (``http://127.0.0.1:PORT/coll/``)."""
    manager = tool("wb-manager")
    wayback = tool("wayback")
    root.mkdir(parents=True, exist_ok=True)
    subprocess.run([str(manager), "init", "coll"], cwd=root, check=True, capture_output=True)
    unpack = ["--unpack-wacz"] if any(w.suffix == ".wacz" for w in warcs) else []
    added = subprocess.run(
        [str(manager), "add", *unpack, "coll", *map(str, warcs)],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    assert added.returncode == 0, added.stdout + added.stderr
    port = free_port()
    args = [str(wayback), "-p", str(port), "-b", "127.0.0.1", "-t", "2"]
    with running(args, cwd=root, port=port, log=root / "wayback.log"):
        yield f"http://127.0.0.1:{port}/coll/"
