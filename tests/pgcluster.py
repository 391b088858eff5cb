"""A throwaway PostgreSQL cluster for the tests: Debian's ``initdb`` and ``pg_ctl`` into a temp dir.

The cluster listens on a Unix socket in its own directory and on 127.0.0.1 at a free port, with
``fsync=off`` (its data is thrown away). Readiness is waited for by polling ``pg_isready``, with a
budget far above what a start needs, never by sleeping a guessed time. As root (CI), ``initdb``
refuses to run, so the cluster runs as an unprivileged user (``postgres`` where Debian's package
created it, else ``nobody``), owning only the temp dir.

Fixtures (registered in ``tests/conftest.py``):
- ``pg_cluster`` (session): the running cluster; skipped with the reason when PostgreSQL or
  psycopg is missing (or failed, when ``SCRAPER_REQUIRE_POSTGRES=1``: ``.ci/run`` sets it).
- ``pg_url``: a fresh, empty database on it for one test, as a ``postgresql://`` URL.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SUPERUSER = "scraper"
START_BUDGET_SECONDS = 120.0  # a start takes about a second; a busy 2-core machine, far more
_names = itertools.count(1)


class ClusterUnavailable(Exception):
    """PostgreSQL cannot be run here (not installed, or no user that may run it)."""


def find_bindir() -> Path:
    """The directory of ``initdb``/``pg_ctl``: ``pg_config --bindir``, the Debian versioned
    directories (newest first), then ``PATH``."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=60
            ).stdout.strip()
            candidates.append(Path(out))

    def version(path: str) -> tuple[int, ...]:
        part = Path(path).parent.name
        return tuple(int(x) for x in part.split(".") if x.isdigit())

    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
    candidates += [Path(d) for d in dirs]
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)
    for bindir in candidates:
        if all((bindir / tool).is_file() for tool in ("initdb", "pg_ctl", "pg_isready")):
            return bindir
    raise ClusterUnavailable(
        "PostgreSQL is not installed (no initdb, pg_ctl and pg_isready in pg_config --bindir, "
        "/usr/lib/postgresql/*/bin or PATH): apt-get install postgresql"
    )


def _run_as() -> pwd.struct_passwd | None:
    """The user the server runs as: None (this one) unless we are root, whom initdb refuses."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise ClusterUnavailable("running as root and there is no 'postgres' or 'nobody' user")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class PgCluster:
    """One running cluster: its directory, port and socket, and how to reach it."""

    bindir: Path
    base: Path
    port: int
    user: pwd.struct_passwd | None

    @property
    def datadir(self) -> Path:
        return self.base / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base / "sock"

    @property
    def logfile(self) -> Path:
        return self.base / "server.log"

    def url(self, dbname: str = "postgres") -> str:
        """A URL to ``dbname`` over TCP on 127.0.0.1, as a user would write ``--db``."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def _tool(self, name: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        kwargs: dict[str, object] = {}
        if self.user is not None:
            kwargs = {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}
        return subprocess.run(  # type: ignore[call-overload, no-any-return]
            [str(self.bindir / name), *args],
            capture_output=True,
            text=True,
            check=check,
            cwd=self.base,
            env={**os.environ, "LC_ALL": "C", "PGTZ": "UTC"},
            timeout=START_BUDGET_SECONDS,
            **kwargs,
        )

    def init(self) -> None:
        """``initdb``: trust authentication (the socket and 127.0.0.1 only), UTF-8, C.UTF-8."""
        for path in (self.datadir, self.socket_dir):
            path.mkdir(mode=0o700)
            if self.user is not None:
                os.chown(path, self.user.pw_uid, self.user.pw_gid)
        if self.user is not None:
            os.chown(self.base, self.user.pw_uid, self.user.pw_gid)
        self._tool(
            "initdb",
            "--pgdata",
            str(self.datadir),
            "--username",
            SUPERUSER,
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--locale",
            "C.UTF-8",  # lower() and so text search fold non-ASCII letters too
            "--no-sync",
        )

    def start(self) -> None:
        """``pg_ctl start --wait`` (pg_ctl polls the new server, and knows when it died early),
        then poll ``pg_isready`` until the server accepts connections on both addresses."""
        options = " ".join(
            [
                "-c listen_addresses=127.0.0.1",
                f"-c port={self.port}",
                f"-c unix_socket_directories='{self.socket_dir}'",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
                "-c max_connections=100",
                "-c shared_buffers=32MB",
                "-c timezone=UTC",
            ]
        )
        started = self._tool(
            "pg_ctl", "start", "--pgdata", str(self.datadir), "--wait",
            f"--timeout={int(START_BUDGET_SECONDS)}", "--log", str(self.logfile), "-o", options,
            check=False,
        )  # fmt: skip
        if started.returncode != 0:
            raise RuntimeError(f"PostgreSQL did not start ({started.stdout.strip()}):\n"
                               f"{self.log_tail()}")  # fmt: skip
        deadline = time.monotonic() + START_BUDGET_SECONDS
        for host in (str(self.socket_dir), "127.0.0.1"):
            while True:
                ready = self._tool(
                    "pg_isready", "-h", host, "-p", str(self.port), "-U", SUPERUSER,
                    "-d", "postgres", "-t", "10", check=False,
                )  # fmt: skip
                if ready.returncode == 0:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"PostgreSQL not ready on {host} after "
                                       f"{START_BUDGET_SECONDS}s:\n{self.log_tail()}")  # fmt: skip
                time.sleep(0.1)  # pg_isready refused at once (starting up): poll again

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    def stop(self) -> None:
        """``pg_ctl stop -m fast``, waiting for the server to exit."""
        self._tool(
            "pg_ctl", "stop", "--pgdata", str(self.datadir), "--mode", "fast", "--wait",
            check=False,
        )  # fmt: skip

    def create_database(self, name: str, *, template: str | None = None) -> str:
        """An empty database ``name`` (or a copy of ``template``); returns its URL."""
        import psycopg
        from psycopg import sql

        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(statement)
        return self.url(name)


_PREFIX = "scraper-pg-"
_OWNER = "owner.pid"  #: the process that started a cluster, in the cluster's temp dir


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_orphans(bindir: Path) -> int:
    """Stop and remove the clusters whose owner died without stopping them (a test run that
    was SIGKILLed), so they do not pile up; never one whose owner lives. How many."""
    removed = 0
    for base in Path(tempfile.gettempdir()).glob(f"{_PREFIX}*"):
        try:
            owner = int((base / _OWNER).read_text())
        except (OSError, ValueError):
            continue  # not ours, or still being set up
        if _alive(owner):
            continue
        for datadir in base.glob("*/data"):
            owner_of = datadir.stat() if os.geteuid() == 0 else None  # run as its owner
            with contextlib.suppress(OSError, subprocess.SubprocessError):
                subprocess.run(
                    [str(bindir / "pg_ctl"), "stop", "--pgdata", str(datadir), "--mode",
                     "immediate", "--wait"],
                    capture_output=True, timeout=START_BUDGET_SECONDS,
                    user=owner_of.st_uid if owner_of else None,
                    group=owner_of.st_gid if owner_of else None,
                    extra_groups=[] if owner_of else None,
                )  # fmt: skip
        shutil.rmtree(base, ignore_errors=True)
        removed += 1
    return removed


@contextlib.contextmanager
def running_cluster() -> Iterator[PgCluster]:
    """Init and start a cluster in a new temp dir; stop it and remove the dir afterwards."""
    bindir = find_bindir()
    user = _run_as()
    remove_orphans(bindir)
    base = Path(tempfile.mkdtemp(prefix=_PREFIX))  # short: a socket path has 107 bytes
    try:
        (base / _OWNER).write_text(str(os.getpid()))
        if user is not None:
            os.chown(base, user.pw_uid, user.pw_gid)
        for attempt in range(3):  # the free port can be taken between probe and start
            cluster = PgCluster(bindir=bindir, base=base / str(attempt), port=_free_port(),
                                user=user)  # fmt: skip
            cluster.base.mkdir()
            cluster.init()
            try:
                cluster.start()
            except RuntimeError:
                cluster.stop()
                if attempt == 2 or "could not bind" not in cluster.log_tail():
                    raise
                continue
            break
        try:
            yield cluster
        finally:
            cluster.stop()
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _unavailable(reason: str) -> None:
    if os.environ.get("SCRAPER_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"SCRAPER_REQUIRE_POSTGRES=1 but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """A running throwaway PostgreSQL cluster for the whole session."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("psycopg is not installed: pip install -e '.[postgres]'")
    try:
        manager = running_cluster()
        cluster = manager.__enter__()
    except ClusterUnavailable as exc:
        _unavailable(str(exc))
        raise  # unreachable: skip or fail raised
    try:
        yield cluster
    finally:
        manager.__exit__(None, None, None)


@pytest.fixture
def pg_url(pg_cluster: PgCluster) -> str:
    """A fresh, empty database on the session's cluster, as a ``postgresql://`` URL."""
    return pg_cluster.create_database(f"t{os.getpid()}_{next(_names)}")


@pytest.fixture(scope="session")
def _pg_archive_template(pg_cluster: PgCluster) -> str:
    """One migrated archive database per session, the template of ``postgres_db``."""
    from scraper.archive.postgres.backend import migrate_archive

    name = f"archive_template_{os.getpid()}"
    migrate_archive(pg_cluster.create_database(name))
    return name


@pytest.fixture
def postgres_db(pg_cluster: PgCluster, _pg_archive_template: str) -> str:
    """A new, empty PostgreSQL archive (a copy of a migrated template), as a ``--db`` URL:
    the contract suite's database for the ``postgres`` backend."""
    return pg_cluster.create_database(f"a{os.getpid()}_{next(_names)}",
                                      template=_pg_archive_template)  # fmt: skip
