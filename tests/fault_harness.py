"""Fault injection for shopmig's migrations: kill a running ``shopmig upgrade``/``downgrade``
(``kill -9`` of the process, or its server session ended from a second connection) at a seeded
random moment of one step, then check what shopmig makes of the wreck.

Used by ``tests/test_faults.py`` (a fast seeded subset, run by ``pytest``) and by
``benchmarks/faults.py`` (the full run, with its figures). One :class:`FaultLab` works on one
demo shop; every :meth:`FaultLab.kill_trial` starts from the step's start revision, runs the step
as a subprocess (``python -m shopmig --url URL upgrade +1``), kills it, and then checks, for the
:class:`Trial` it returns:

1. ``shopmig.diagnose`` names the state: the schema agrees with the version table, or the
   disagreement is a state shopmig recognizes (checked right after the kill and again once the
   dead client's server session is gone);
2. the killed run printed no traceback, and a run that ended by itself (its session was killed)
   printed exactly one ``shopmig: error:`` line;
3. a rerun (``upgrade head``, or ``downgrade`` to the revision below the step) exits 0, prints no
   error, and reaches its goal with the schema matching the version table;
4. no invalid index is left (PostgreSQL's catalog, read directly);
5. the data are unchanged: row count and sum of amounts (computed by the database) equal the
   seeded demo data's, every row has status ``'pending'``, and ``shopmig.verify`` (a row hash)
   finds no difference against an untouched copy of the shop (``reference_db``), or against
   the seeded rows themselves plus a SHA-256 over every (key, amount) computed here,
   independently of shopmig.

Randomness comes from the ``random.Random`` passed in (seeded by the caller); the outcome of a
kill still depends on timing, so the checks hold for *every* outcome rather than expecting one.
The per-database SQL below (listing and ending sessions, invalid indexes) is test
instrumentation, not part of shopmig.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa

import shopmig
from shopmig.db import parse_url
from shopmig.dialects import dialect_for
from shopmig.migrate.options import MigrationOptions

REVS: list[str] = shopmig.revisions()
BASELINE, HEAD = REVS[0], REVS[-1]
STEPS: list[str] = REVS[1:]
"""The steps a kill can land in (the baseline is never run or undone)."""

POLL_S = 0.005
INTERNALS = ("sqlalche.me", "rollback() fully", "PendingRollbackError", "alembic.util")
"""Text of SQLAlchemy's or Alembic's own advice that must not reach a shopmig error."""
DEFAULT_WINDOW_S = 0.5  # how long a step migrates, until measured
DDL_MISSES = 1  # runs in which the step's statements were too short to see, then "window"
RESERVED_BYTE = str(0x40000001)  # SQLite's RESERVED lock: a write transaction is open
RUN_TIMEOUT_S = 300.0
SETTLE_TIMEOUT_S = 120.0
DDL = re.compile(r"^\s*(ALTER\s+TABLE|CREATE\s+(UNIQUE\s+)?INDEX|DROP\s+INDEX)", re.I)
OPTIONS = MigrationOptions(allow_table_rewrite=True)
CLI_OPTIONS = ("--allow-table-rewrite",)


# ------------------------------------------------------------------ sessions on a server


@dataclass(frozen=True)
class SessionSQL:
    """How to list the sessions connected to one database and end one of them."""

    sessions: str  # (id, current statement, state) of every other session on :db
    kill: str
    migrating: str  # a row while a session holds shopmig's migration lock (:db, :key)
    invalid_indexes: str | None = None  # run on the database itself


SESSION_SQL: dict[str, SessionSQL] = {
    "postgresql": SessionSQL(
        "SELECT pid, coalesce(query, ''), coalesce(state, '') FROM pg_stat_activity "
        "WHERE datname = :db AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
        "SELECT pg_terminate_backend(:id)",
        "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted AND database = "
        "(SELECT oid FROM pg_database WHERE datname = :db)",
        "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
        "WHERE NOT i.indisvalid OR NOT i.indisready",
    ),
    "mysql": SessionSQL(
        "SELECT id, coalesce(info, ''), command FROM information_schema.processlist "
        "WHERE db = :db AND id <> CONNECTION_ID()",
        "KILL :id",
        "SELECT 1 FROM DUAL WHERE IS_USED_LOCK(:key) IS NOT NULL",
    ),
}


class Server:
    """A second connection (to the server's maintenance database, autocommit) that watches and
    ends the sessions connected to the database under test."""

    def __init__(self, url: str) -> None:
        parsed = parse_url(url)
        dialect = dialect_for(parsed)
        self.sql = SESSION_SQL[dialect.name]
        self.database = parsed.database
        self.engine = sa.create_engine(dialect.admin_url(parsed),
                                       isolation_level="AUTOCOMMIT", poolclass=sa.NullPool)
        self.conn = self.engine.connect()

    def close(self) -> None:
        """Close the watching connection."""
        self.conn.close()
        self.engine.dispose()

    def sessions(self) -> list[tuple[int, str, str]]:
        """(id, statement, state) of each session on the database under test."""
        rows = self.conn.execute(sa.text(self.sql.sessions), {"db": self.database}).all()
        return [(int(r[0]), str(r[1]), str(r[2])) for r in rows]

    def migrating(self) -> bool:
        """True while a session holds shopmig's migration lock on the database (the key is
        the one ``shopmig.migrate.core._lock_key`` builds)."""
        key = f"shopmig-migrate:{self.database}"[:64]
        return self.conn.execute(sa.text(self.sql.migrating),
                                 {"db": self.database, "key": key}).first() is not None

    def kill_all(self) -> int:
        """End every session on the database under test; how many were ended."""
        ended = 0
        for session_id, _, _ in self.sessions():
            with contextlib.suppress(sa.exc.DBAPIError):  # it may have gone meanwhile
                self.conn.execute(sa.text(self.sql.kill), {"id": session_id})
                ended += 1
        return ended

    def running_ddl(self) -> bool:
        """True while a session on the database runs a DDL statement."""
        return any(DDL.match(query) and state.lower() in ("active", "query")
                   for _, query, state in self.sessions())

    def wait_until_idle(self, timeout: float = SETTLE_TIMEOUT_S) -> float:
        """Wait until no session is left on the database (a killed client's server session
        finishes its statement first); the seconds waited."""
        started = time.monotonic()
        while self.sessions():
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"sessions still on {self.database} after {timeout}s")
            time.sleep(0.05)
        return time.monotonic() - started


# ------------------------------------------------------------------ running the command line


@dataclass
class Run:
    """One ``shopmig`` command: exit code (negative: killed by that signal), output, seconds."""

    argv: list[str]
    code: int | None
    out: str
    err: str
    seconds: float

    @property
    def traceback(self) -> bool:
        """True if the run printed a Python traceback."""
        return "Traceback (most recent call last)" in self.out + self.err

    @property
    def error_lines(self) -> list[str]:
        """The lines of its error output."""
        return [line for line in self.err.splitlines() if line.strip()]

    def clean_error(self) -> bool:
        """A clean ending: exit 0 with no error output, or exactly one ``shopmig: error:``
        line (and no traceback)."""
        if self.traceback:
            return False
        if self.code == 0:
            return not self.error_lines
        return len(self.error_lines) == 1 and self.error_lines[0].startswith("shopmig: error:")

    def to_dict(self) -> dict[str, Any]:
        """The run as a plain dict (the URL masked)."""
        return {"argv": [shopmig.mask_url(a) if "://" in a else a for a in self.argv],
                "code": self.code, "out": self.out, "err": self.err,
                "seconds": round(self.seconds, 3)}


def cli_argv(url: str, *args: str) -> list[str]:
    """The argument list of ``shopmig --url URL ARGS...``."""
    return ["--url", url, *args]


def start_cli(argv: Sequence[str]) -> subprocess.Popen[str]:
    """Start ``python -m shopmig ARGV`` as its own process group."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "shopmig", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)


WARM = """import json, sys
import shopmig.cli, shopmig.migrate.core, shopmig.databases
print("ready", flush=True)
sys.exit(shopmig.cli.main(json.loads(sys.stdin.readline())))
"""


class Launcher:
    """Starts the runs that get killed. ``warm=False``: ``python -m shopmig ARGV``, cold.
    ``warm=True``: a process that has already imported shopmig's modules and then runs
    ``shopmig.cli.main(ARGV)`` exactly as ``python -m shopmig`` does; the next one is started
    (and imports) while the previous trial is checked, so a kill costs the migration's time,
    not the interpreter's start."""

    def __init__(self, warm: bool) -> None:
        self.warm = warm
        self._ready: subprocess.Popen[str] | None = None

    def prepare(self) -> None:
        """Start the next warm process now (no-op when cold or already started)."""
        if self.warm and self._ready is None:
            env = {**os.environ, "PYTHONUNBUFFERED": "1"}
            self._ready = subprocess.Popen(
                [sys.executable, "-c", WARM], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)

    def start(self, argv: Sequence[str]) -> subprocess.Popen[str]:
        """A running ``shopmig ARGV``."""
        if not self.warm:
            return start_cli(argv)
        self.prepare()
        proc, self._ready = self._ready, None
        assert proc is not None and proc.stdin is not None and proc.stdout is not None
        ready = proc.stdout.readline()
        if ready.strip() != "ready":
            raise RuntimeError(f"the warm shopmig process did not start: {ready!r} "
                               f"{proc.communicate()[1]!r}")
        proc.stdin.write(json.dumps(list(argv)) + "\n")
        proc.stdin.flush()
        return proc

    def close(self) -> None:
        """Stop a warm process that was never used."""
        if self._ready is not None:
            self._ready.kill()
            self._ready.communicate()
            self._ready = None


def finish(proc: subprocess.Popen[str], argv: Sequence[str], started: float,
           timeout: float = RUN_TIMEOUT_S) -> Run:
    """Wait for ``proc`` (kill it after ``timeout``) and collect its output."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        err += f"\n[harness] still running after {timeout}s: killed"
    return Run(list(argv), proc.returncode, out, err, time.monotonic() - started)


def run_cli(argv: Sequence[str], *, in_process: bool = False,
            timeout: float = RUN_TIMEOUT_S) -> Run:
    """Run ``shopmig ARGV`` to the end, as a subprocess or through ``shopmig.cli.main`` in this
    process (faster; an exception escaping ``main`` is recorded as a traceback)."""
    started = time.monotonic()
    if not in_process:
        return finish(start_cli(argv), argv, started, timeout)
    from shopmig.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code: int | None = main(list(argv))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 2
        except Exception:
            traceback.print_exc(file=err)
            code = 1
    return Run(list(argv), code, out.getvalue(), err.getvalue(), time.monotonic() - started)


# ------------------------------------------------------------------ the data, independently


@dataclass(frozen=True)
class Fingerprint:
    """Row count, sum of amounts in cents, and a SHA-256 over every (key, amount) in key
    order: computed from the seeded demo data or read back from a database."""

    rows: int
    cents: int
    digest: str

    @classmethod
    def of_pairs(cls, pairs: Iterator[tuple[str, float]] | list[tuple[str, float]]
                 ) -> Fingerprint:
        """The fingerprint of (key, amount) pairs."""
        items = sorted((str(k), round(float(a) * 100)) for k, a in pairs)
        h = hashlib.sha256()
        for key, cents in items:
            h.update(f"{key}\t{cents}\n".encode())
        return cls(len(items), sum(c for _, c in items), h.hexdigest())

    @classmethod
    def of_frame(cls, frame: pd.DataFrame) -> Fingerprint:
        """The fingerprint of the demo data."""
        return cls.of_pairs(list(zip(frame["order_id"], frame["amount"], strict=True)))


def read_fingerprint(url: str) -> Fingerprint:
    """The table's fingerprint, read back with plain SQL."""
    engine = shopmig.open_engine(url)
    try:
        with engine.connect() as conn:
            orders = sa.table("orders", sa.column("order_id"), sa.column("amount"))
            pairs = conn.execute(sa.select(orders.c.order_id, orders.c.amount)).all()
    finally:
        engine.dispose()
    return Fingerprint.of_pairs([(str(k), float(a)) for k, a in pairs])


def read_totals(url: str) -> tuple[int, int, int | None]:
    """Row count, sum of amounts in cents, and how many rows have a status other than
    ``'pending'`` (None without a status column), computed by the database (plain SQL)."""
    engine = shopmig.open_engine(url)
    try:
        with engine.connect() as conn:
            amount = sa.column("amount")
            rows, cents = conn.execute(sa.select(
                sa.func.count(), sa.func.sum(sa.func.round(amount * 100))).select_from(
                sa.table("orders", amount))).one()
            columns = {c["name"] for c in sa.inspect(conn).get_columns("orders")}
            other = None
            if "status" in columns:
                status = sa.column("status")
                other = conn.execute(sa.select(sa.func.count()).select_from(
                    sa.table("orders", status)).where(
                    sa.or_(status.is_(None), status != "pending"))).scalar_one()
    finally:
        engine.dispose()
    return int(rows), int(cents or 0), None if other is None else int(other)


def invalid_indexes(url: str) -> list[str]:
    """Invalid or unready indexes anywhere in the database, from the catalog (PostgreSQL; no
    such thing elsewhere)."""
    sql = SESSION_SQL.get(dialect_for(parse_url(url)).name)
    if sql is None or sql.invalid_indexes is None:
        return []
    engine = shopmig.open_engine(url)
    try:
        with engine.connect() as conn:
            return sorted(conn.execute(sa.text(sql.invalid_indexes)).scalars().all())
    finally:
        engine.dispose()


# ------------------------------------------------------------------ one trial


@dataclass
class State:
    """What ``shopmig.diagnose`` said at one moment."""

    recorded: str | None
    actual: str | None
    agrees: bool
    recognized: bool
    invalid: list[str]
    sentence: str

    @classmethod
    def read(cls, url: str) -> State:
        """Diagnose ``url`` now (an exception is recorded as an unrecognized state)."""
        try:
            d = shopmig.diagnose(url)
        except Exception as exc:  # a fault that leaves shopmig unable to even look
            return cls(None, None, False, False, [], f"diagnose failed: {exc!r}")
        return cls(d.recorded, d.actual, d.agrees, d.recognized, list(d.invalid_indexes),
                   d.sentence())

    @property
    def ok(self) -> bool:
        """Schema and version table agree and nothing is left over."""
        return self.agrees and not self.invalid

    def category(self, start: str, goal: str) -> str:
        """``untouched``, ``done``, ``half-applied`` (with the revisions), ``invalid index``
        or ``unnamed``."""
        if not self.recognized:
            return "unnamed"
        if self.invalid:
            return "invalid index left"
        if not self.agrees:
            return f"half-applied (recorded {short(self.recorded)}, schema {short(self.actual)})"
        if self.recorded == start:
            return "untouched"
        if self.recorded == goal:
            return "done"
        return f"at {short(self.recorded)}"


def short(revision: str | None) -> str:
    """``0003_status_check`` -> ``0003``."""
    return (revision or "none")[:4]


@dataclass
class Trial:
    """One fault and everything checked after it; ``problems`` is empty when all held."""

    backend: str
    direction: str
    step: str
    mode: str  # "sigkill": kill -9 the process; "session": end its server session
    timing: str  # "window": random moment of the run; "ddl": while the server runs its DDL
    start: str
    goal: str
    delay_s: float = 0.0
    window_s: float = 0.0
    landed: bool = False
    sessions_killed: int = 0
    killed: dict[str, Any] = field(default_factory=dict)
    state_now: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    category: str = ""
    rerun: dict[str, Any] = field(default_factory=dict)
    repaired: bool = False
    reached: bool = False
    invalid_left: list[str] = field(default_factory=list)
    data_ok: bool = False
    data_detail: str = ""
    problems: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    tries: list[str] = field(default_factory=list)  # each run until a fault landed

    @property
    def ok(self) -> bool:
        """Every check held."""
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        """The trial as a plain dict (for JSON)."""
        return {**asdict(self), "ok": self.ok}


class FaultLab:
    """Kill migrations of one demo shop (``rows`` seeded orders) and check what is left.

    ``url`` names a database that does not exist yet (it is created, and dropped by
    :meth:`close`). ``warm``: see :class:`Launcher`. ``in_process_rerun`` runs the rerun
    through ``shopmig.cli.main`` in this process instead of a subprocess. ``calibrate``: time
    each step in this process before its first kill (else start from ``DEFAULT_WINDOW_S``;
    either way every run that finishes before its kill corrects the window)."""

    def __init__(self, backend: str, url: str, rows: int, *, seed: int = 7,
                 warm: bool = False, in_process_rerun: bool = False,
                 calibrate: bool = True, reference_db: bool = False) -> None:
        self.backend = backend
        self.calibrating = calibrate
        self.url = url
        self.rows = rows
        self.in_process_rerun = in_process_rerun
        self.launcher = Launcher(warm)
        self.data = shopmig.demo_orders(rows, seed)
        self.expected = Fingerprint.of_frame(self.data)
        shopmig.make_demo_shop(url, rows=rows, seed=seed)
        self.dialect = dialect_for(parse_url(url))
        self.reference: str | None = None
        if reference_db:  # the same shop, never migrated: verify's fast engines compare
            self.reference = self.dialect.named_like(parse_url(url), "_ref").render_as_string(
                hide_password=False)
            shopmig.drop_database(self.reference)
            shopmig.make_demo_shop(self.reference, rows=rows, seed=seed)
        self.server = Server(url) if self.dialect.is_server else None
        self.path = None if self.server else os.path.realpath(
            self.dialect.file_path(parse_url(url)) or "")
        self.windows: dict[tuple[str, str], float] = {}

    def close(self) -> None:
        """Drop the database, stop a warm process, close the watching connection."""
        self.launcher.close()
        if self.server is not None:
            self.server.close()
        for url in (self.url, self.reference):
            if url is not None:
                shopmig.drop_database(url)

    # ---------------------------------------------------------------- moving and checking

    def move_to(self, revision: str) -> None:
        """Bring the shop to ``revision`` (in this process, no fault)."""
        current = shopmig.current_revision(self.url)
        order = REVS.index
        if current is None or order(current) < order(revision):
            shopmig.upgrade(self.url, revision, options=OPTIONS)
        elif order(current) > order(revision):
            shopmig.downgrade(self.url, revision, options=OPTIONS)
        state = State.read(self.url)
        assert state.ok and state.recorded == revision, state

    def check_data(self, with_status: bool) -> tuple[bool, str]:
        """The data against the seeded demo data: row count and sum of amounts (by the
        database), every status ``'pending'``, and ``shopmig.verify`` (a row hash) against the
        untouched reference database, or against the seeded rows themselves together with a
        SHA-256 over every (key, amount) read back here."""
        rows, cents, other = read_totals(self.url)
        problems = []
        if (rows, cents) != (self.expected.rows, self.expected.cents):
            problems.append(f"{rows} rows and {cents} cents, expected {self.expected.rows} "
                            f"and {self.expected.cents}")
        if with_status and other != 0:
            problems.append(f"{other} row(s) with a status other than 'pending' "
                            f"(None: no status column)")
        if self.reference is None:
            found = read_fingerprint(self.url)
            if found != self.expected:
                problems.append(f"fingerprint {found} != expected {self.expected}")
        result = shopmig.verify(self.reference or self.data, self.url,
                                expect={"status": "pending"} if with_status else None)
        if not result.ok:
            problems.append(f"verify: {result.summary()}")
        return not problems, "; ".join(problems) or (
            f"{rows} rows, {cents} cents, verify ok"
            + ("" if self.reference else f", sha256 {self.expected.digest[:12]}"))

    # ---------------------------------------------------------------- one kill

    def migrating(self, proc: subprocess.Popen[str]) -> bool:
        """True while the process is migrating: on a server, a session holds shopmig's
        migration lock on the database; on SQLite, the process has the database file open."""
        if self.server is not None:
            return self.server.migrating()
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{proc.pid}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{proc.pid}/fd/{fd}") == self.path:
                        return True
        return False

    def calibrate(self, step: str, direction: str) -> float:
        """Time the step run in this process (no fault): the first guess of how long the
        killed process migrates (corrected by every run that finishes before its kill)."""
        i = REVS.index(step)
        self.move_to(REVS[i - 1] if direction == "up" else step)
        started = time.monotonic()
        if direction == "up":
            shopmig.upgrade(self.url, step, options=OPTIONS)
        else:
            shopmig.downgrade(self.url, REVS[i - 1], options=OPTIONS)
        self.windows[(direction, step)] = time.monotonic() - started
        return self.windows[(direction, step)]

    def writing(self, proc: subprocess.Popen[str]) -> bool:
        """True while the process runs a step's statements: on a server, a DDL statement of
        the database's sessions is running; on SQLite, the process holds the write
        (RESERVED) lock on the file (``/proc/locks``), which a step takes up front."""
        if self.server is not None:
            return self.server.running_ddl()
        inode = os.stat(self.path or "").st_ino
        with contextlib.suppress(OSError), open("/proc/locks") as locks:
            for line in locks:
                fields = line.split()
                if (len(fields) >= 8 and fields[4] == str(proc.pid)
                        and fields[5].endswith(f":{inode}") and fields[6] == RESERVED_BYTE):
                    return True
        return False

    @staticmethod
    def _wait(proc: subprocess.Popen[str], until: Any, deadline: float) -> bool:
        """Poll ``until()`` while the process runs; False if it ended or time ran out."""
        while proc.poll() is None and time.monotonic() < deadline:
            if until():
                return True
            time.sleep(POLL_S)
        return False

    def kill_trial(self, step: str, direction: str, mode: str, rng: Any, *,
                   timing: str = "window", attempts: int = 16) -> Trial:
        """Run ``step`` in ``direction`` as ``shopmig upgrade +1`` (``downgrade -1``) and end
        it with ``mode`` (``sigkill``: ``kill -9`` of the process; ``session``: its server
        sessions ended from a second connection) at a random moment, then check everything.

        ``timing="window"``: uniformly over the time the process migrates (holds the
        migration lock; SQLite: has the file open), as measured on an earlier run of the same
        step (the first run of a step measures it); ``"ddl"``: within 20 ms of the step's
        statements starting (:meth:`writing`; when they are too short to see from here in
        ``DDL_MISSES`` runs, the trial falls back to ``"window"`` and says so in ``timing``).
        A run that stopped migrating before its moment counts as a measurement: the next try
        aims within half the time it was seen migrating (a loaded machine sees a short step
        late, so what is left of it after the watcher notices can be a few milliseconds), up
        to ``attempts`` tries in all; each try is recorded in ``Trial.tries`` and named when
        no fault landed."""
        i = REVS.index(step)
        start, goal = (REVS[i - 1], step) if direction == "up" else (step, REVS[i - 1])
        trial = Trial(self.backend, direction, step, mode, timing, start, goal)
        argv = cli_argv(self.url, "upgrade" if direction == "up" else "downgrade",
                        "+1" if direction == "up" else "-1", *CLI_OPTIONS)
        run: Run | None = None
        misses = 0
        if self.calibrating and timing == "window" and (direction, step) not in self.windows:
            with timed(trial, "calibrate"):
                self.calibrate(step, direction)
        for _ in range(attempts):
            with timed(trial, "setup"):
                self.move_to(start)
            window = self.windows.get((direction, step), DEFAULT_WINDOW_S)
            delay = rng.uniform(0.0, window) if timing == "window" else rng.uniform(0.0, 0.02)
            started = time.monotonic()
            proc = self.launcher.start(argv)
            deadline = started + RUN_TIMEOUT_S
            armed = self._wait(proc, lambda p=proc: self.migrating(p), deadline)
            armed_at = time.monotonic()
            if armed and timing == "ddl":
                armed = self._wait(proc, lambda p=proc: self.writing(p), deadline)
                misses += not armed
                if misses >= DDL_MISSES:  # too short to see from here: aim at the window
                    timing, trial.timing = "window", "ddl unseen, window"
            landed = False
            if armed:
                moment = time.monotonic() + delay
                self._wait(proc, lambda p=proc, m=moment: (
                    time.monotonic() >= m or not self.migrating(p)), deadline)
                if proc.poll() is None and self.migrating(proc):
                    if mode == "sigkill":
                        os.kill(proc.pid, signal.SIGKILL)
                        landed = True
                    else:
                        assert self.server is not None, "session kills need a server"
                        trial.sessions_killed = self.server.kill_all()
                        landed = trial.sessions_killed > 0
                elif timing == "window":  # it finished first: aim within half of what was seen
                    self.windows[(direction, step)] = max(0.001,
                                                          (time.monotonic() - armed_at) / 2)
            self.launcher.prepare()
            run = finish(proc, argv, started)
            trial.seconds["killed run"] = round(trial.seconds.get("killed run", 0) + run.seconds,
                                                3)
            trial.tries.append(f"{'seen' if armed else 'never seen'} migrating, aimed "
                               f"{delay:.3f}s into {window:.3f}s, "
                               f"{'killed' if landed else f'exit {run.code}'}")
            if landed:
                trial.landed = True
                trial.delay_s, trial.window_s = round(delay, 4), round(window, 4)
                break
            if run.code != 0 or not run.clean_error():  # an unkilled run must just work
                trial.problems.append(f"an unkilled run failed: exit {run.code}, "
                                      f"{run.err.strip()[:300]!r}")
                break
        assert run is not None
        trial.killed = run.to_dict()
        if not trial.landed:
            trial.problems.append(f"no fault landed in {attempts} attempts: "
                                  + "; ".join(trial.tries))
            return trial
        self._after(trial, run)
        return trial

    def _after(self, trial: Trial, run: Run) -> None:
        """Every check after a fault, recorded on ``trial``."""
        problems = trial.problems
        if run.traceback:
            problems.append("the killed run printed a traceback")
        if trial.mode == "session" and not run.clean_error():
            problems.append(f"the run whose session was killed did not end in one error line: "
                            f"exit {run.code}, {run.err.strip()[:500]!r}")
        if any(leak in run.err for leak in INTERNALS):
            problems.append(f"the error passes on a library's internals: {run.err.strip()!r}")
        with timed(trial, "diagnose"):
            now = State.read(self.url)
        trial.state_now = asdict(now)
        if not now.recognized:
            problems.append(f"right after the fault shopmig cannot name the state: {now.sentence}")
        if self.server is not None:
            with timed(trial, "settle"):
                self.server.wait_until_idle()
        state = State.read(self.url)
        trial.state = asdict(state)
        trial.category = state.category(trial.start, trial.goal)
        if not state.recognized:
            problems.append(f"after the fault shopmig cannot name the state: {state.sentence}")
        elif not state.ok and not state.sentence:
            problems.append("the disagreement is not named")
        rerun_args = (("upgrade", "head") if trial.direction == "up"
                      else ("downgrade", trial.goal))
        goal = HEAD if trial.direction == "up" else trial.goal
        with timed(trial, "rerun"):
            rerun = run_cli(cli_argv(self.url, *rerun_args, *CLI_OPTIONS),
                            in_process=self.in_process_rerun)
        trial.rerun = rerun.to_dict()
        trial.repaired = any(line.startswith(("record:", "repair:"))
                             for line in rerun.out.splitlines())
        if rerun.code != 0 or rerun.error_lines or rerun.traceback:
            problems.append(f"the rerun failed: exit {rerun.code}, {rerun.err.strip()[:500]!r}")
        after = State.read(self.url)
        trial.reached = after.recorded == goal and after.ok
        if not trial.reached:
            problems.append(f"the rerun did not reach {goal}: {after}")
        trial.invalid_left = invalid_indexes(self.url)
        if trial.invalid_left:
            problems.append(f"invalid index(es) left: {trial.invalid_left}")
        with timed(trial, "data check"):
            trial.data_ok, trial.data_detail = self.check_data(REVS.index(goal) >= 1)
        if not trial.data_ok:
            problems.append(f"data changed: {trial.data_detail}")

    # ---------------------------------------------------------------- two migrators at once

    def concurrent_trial(self) -> dict[str, Any]:
        """Two ``shopmig upgrade head`` started together from the baseline. Returns both runs
        and ``problems`` (empty when: every step ran exactly once, the other run waited and
        found nothing to do or ended in one clean error line, and the shop is at head with
        the data unchanged)."""
        self.move_to(BASELINE)
        argv = cli_argv(self.url, "upgrade", "head", *CLI_OPTIONS)
        started = time.monotonic()
        procs = [start_cli(argv) for _ in range(2)]
        runs = [finish(p, argv, started) for p in procs]
        problems = []
        applied = [line.split("->")[1].split()[0]
                   for r in runs for line in r.out.splitlines() if line.startswith("up:")]
        if sorted(applied) != STEPS:
            problems.append(f"steps applied {applied}, expected each of {STEPS} once")
        for r in runs:
            if not r.clean_error():
                problems.append(f"a run did not end cleanly: exit {r.code}, {r.err.strip()!r}")
            elif r.code != 0 and not re.search(
                    r"another shopmig migration is running|another session migrated it",
                    r.err):
                problems.append(f"the other run failed for another reason: {r.err.strip()!r}")
        after = State.read(self.url)
        if not (after.ok and after.recorded == HEAD):
            problems.append(f"not at head afterwards: {after}")
        ok, detail = self.check_data(True)
        if not ok:
            problems.append(f"data changed: {detail}")
        outcome = sorted(f"applied {sum(line.startswith('up:') for line in r.out.splitlines())}"
                         if "up:" in r.out else "nothing to do" if r.code == 0 else
                         "locked" if "another shopmig migration" in r.err else
                         "moved meanwhile" if "another session migrated" in r.err else
                         f"exit {r.code}" for r in runs)
        return {"backend": self.backend, "runs": [r.to_dict() for r in runs],
                "outcome": " + ".join(outcome), "problems": problems}


@contextlib.contextmanager
def timed(trial: Trial, name: str) -> Iterator[None]:
    """Add the seconds the block takes to ``trial.seconds[name]``."""
    started = time.monotonic()
    try:
        yield
    finally:
        trial.seconds[name] = round(trial.seconds.get(name, 0.0) + time.monotonic() - started, 3)


@contextlib.contextmanager
def holding(url: str, *statements: str) -> Iterator[sa.Connection]:
    """A second session that runs ``statements`` in a transaction and keeps it open (holding
    its locks and its snapshot) until the block ends; then it rolls back."""
    engine = shopmig.open_engine(url)
    conn = engine.connect()
    try:
        conn.begin()
        for statement in statements:
            conn.exec_driver_sql(statement)
        yield conn
    finally:
        with contextlib.suppress(sa.exc.DBAPIError):
            conn.rollback()
        conn.close()
        engine.dispose()


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    """Poll ``predicate()`` until true; ``TimeoutError`` naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} did not happen within {timeout}s")
        time.sleep(0.01)


def repo_root() -> Path:
    """The repository's root folder."""
    return Path(__file__).resolve().parent.parent
