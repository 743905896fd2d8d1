"""Rehearse the migration on a copy, under a synthetic shop workload, and report what happened.

:func:`rehearse` makes (or reuses) a marked copy of the source, backs it up, runs every pending
step one at a time while :class:`~shopmig.workload.ShopWorkload` writes to ``orders``, then checks
that every row that existed before and every write the workload saw committed is there with the
right values. It then rolls all the way back and forward again (the round trip) and checks again.
The source is only ever read. The result is a :class:`Rehearsal` value with ``to_dict()`` (the
CLI's ``--json``) and ``to_html()`` (a self-contained report).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import decimal
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from tqdm import tqdm

from shopmig import validate
from shopmig.copying import copy_database
from shopmig.databases import (
    database_exists,
    database_marker,
    drop_database,
    is_server,
)
from shopmig.db import mask_url, parse_url, reading, reflect_table, use_connection
from shopmig.dialects import dialect_for
from shopmig.errors import (
    NotACopyError,
    RehearsalInterruptedError,
    SchemaMismatchError,
    ShopmigError,
)
from shopmig.migrate import steps
from shopmig.migrate.core import (
    adopt,
    baseline_differences,
    current_revision,
    downgrade,
    half_applied,
    plan,
    revisions,
    upgrade,
)
from shopmig.migrate.options import BASELINE, STATUS_DEFAULT
from shopmig.migrate.steps import MigrationOptions
from shopmig.migrate.target import Target, resolve_target
from shopmig.rehearsal.workload import (
    ShopWorkload,
    WriteEvent,
    expected_state,
    require_local,
    window_stats,
)
from shopmig.verification.api import VerifyResult, verify

TAIL_S = 0.5  # the workload keeps writing this long after the last step


@dataclass(frozen=True)
class RehearsedStep:
    """One step as it ran on the copy under the workload.

    ``verify_ok`` is the check made right after the step, with the workload's writes held:
    every pre-existing row unchanged (a new ``status`` column 'pending') and every write
    committed so far present; None for a step that failed (or a round-trip step, which is
    checked once at the end). ``seconds`` is the step's wall time, ``started_s`` when it began
    (seconds since the workload started); ``attempts`` how many tries it took (lock-timeout
    retries); ``phase`` is ``forward`` for the rehearsed steps, ``roundtrip`` for the steps
    of the round trip.
    """

    revision: str
    direction: str
    summary: str
    sql: str
    lock: str
    rewrites_table: bool
    started_s: float
    seconds: float
    writes: int
    failed_writes: int
    max_write_stall_s: float
    p50_write_latency_s: float
    p99_write_latency_s: float
    ok: bool
    verify_ok: bool | None = None
    error: str | None = None
    attempts: int = 1
    phase: str = "forward"

    def to_dict(self) -> dict[str, Any]:
        """The step as a plain dict."""
        return asdict(self)


def _now_iso() -> str:
    import datetime as dt

    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _shopmig_version() -> str:
    from shopmig._version import __version__

    return __version__


@dataclass(frozen=True, eq=False)
class Rehearsal:
    """Everything a rehearsal measured. ``ok`` means every step ran, nothing was lost or
    changed that the workload did not change, and the round trip returned the data exactly.

    ``workload_errors`` counts writes the table refused (not lock waits): they fail the
    rehearsal. ``table`` is the table rehearsed; ``left`` says what the run left behind.

    What the run was (for the report's header): ``started_at`` (ISO 8601, UTC; ``created_at``
    is when this result was made), ``shopmig_version``, ``server_version`` (``PostgreSQL
    15.4``), the workload's ``rows_per_sec`` and ``duration_s`` limit, and ``options`` (the
    :class:`MigrationOptions` as a dict: lock and statement timeouts, retries, rewrites
    allowed). ``roundtrip_steps`` are the round trip's steps, timed like ``steps``.
    """

    source: str
    copy: str
    dialect: str
    start_revision: str | None
    end_revision: str | None
    steps: list[RehearsedStep]
    lost_writes: int
    failed_writes: int
    committed_writes: int
    unexplained_differences: int
    roundtrip_ok: bool | None
    status_values_dropped: int
    verification: VerifyResult | None
    roundtrip_verification: VerifyResult | None
    events: pd.DataFrame
    backup: dict[str, Any] | None = None
    failure: str | None = None
    notes: list[str] = field(default_factory=list)
    workload_errors: int = 0
    workload_error_examples: list[str] = field(default_factory=list)
    table: str = "orders"
    left: list[str] = field(default_factory=list)
    started_at: str | None = None
    created_at: str = field(default_factory=_now_iso)
    shopmig_version: str = field(default_factory=_shopmig_version)
    server_version: str | None = None
    rows_per_sec: float | None = None
    duration_s: float | None = None
    options: dict[str, Any] | None = None
    roundtrip_steps: list[RehearsedStep] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every step ran and every check passed."""
        return (self.failure is None and self.lost_writes == 0 and self.workload_errors == 0
                and self.unexplained_differences == 0 and bool(self.roundtrip_ok)
                and all(s.ok and s.verify_ok is not False for s in self.steps))

    def reasons(self) -> list[str]:
        """Why the rehearsal is not OK, most important first (empty when it is OK)."""
        out = []
        if self.failure:
            out.append(self.failure)
        bad = [s.revision for s in self.steps if s.verify_ok is False]
        if bad:
            out.append(f"check failed after step(s) {', '.join(bad)}")
        if self.lost_writes:
            out.append(f"{self.lost_writes} committed write(s) lost")
        if self.unexplained_differences:
            out.append(f"{self.unexplained_differences} difference(s) the workload does not "
                       "explain")
        if self.workload_errors:
            example = (f", e.g. {self.workload_error_examples[0]}"
                       if self.workload_error_examples else "")
            out.append(f"{self.workload_errors} workload error(s) (writes the table refused)"
                       f"{example}")
        if self.roundtrip_ok is False:
            out.append("the round trip did not give the data back")
        elif self.roundtrip_ok is None and self.failure is None:
            out.append("the round trip did not run")
        return out

    def failed_write_errors(self) -> list[dict[str, Any]]:
        """The workload's failed writes grouped by error text: ``error``, ``count``,
        ``first_s`` and ``last_s`` (seconds since the workload started)."""
        from shopmig.rehearsal.report import failed_write_errors

        return failed_write_errors(self.events)

    def data_checks(self) -> dict[str, Any]:
        """The verifications as plain data that agrees with ``ok`` (see
        :func:`shopmig.rehearsal.report.verification_dict`)."""
        from shopmig.rehearsal.report import verification_dict

        return {
            "verification": verification_dict(
                self.verification, self.events,
                ok=self.lost_writes == 0 and self.unexplained_differences == 0),
            "roundtrip_verification": verification_dict(
                self.roundtrip_verification, self.events, ok=self.roundtrip_ok),
        }

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON: ``ok``, ``lost_writes``, ``failed_writes``, ``roundtrip_ok``,
        ``steps`` (each with revision, seconds, max_write_stall_s, p99_write_latency_s,
        verify_ok) and the rest of the measurements. Every ``ok`` in it agrees with the
        headline: the verifications' ``ok`` counts only differences the workload does not
        explain (``identical`` says whether the copy equals its baseline at all, and
        ``explained_by_workload`` how many differences the workload's own writes made);
        ``reasons`` says why ``ok`` is false."""
        return {
            "ok": self.ok,
            "headline": self.summary(),
            "reasons": self.reasons(),
            "started_at": self.started_at,
            "created_at": self.created_at,
            "shopmig_version": self.shopmig_version,
            "server_version": self.server_version,
            "source": self.source,
            "copy": self.copy,
            "dialect": self.dialect,
            "rows_per_sec": self.rows_per_sec,
            "duration_s": self.duration_s,
            "options": self.options,
            "start_revision": self.start_revision,
            "end_revision": self.end_revision,
            "lost_writes": self.lost_writes,
            "failed_writes": self.failed_writes,
            "failed_write_errors": self.failed_write_errors(),
            "committed_writes": self.committed_writes,
            "unexplained_differences": self.unexplained_differences,
            "roundtrip_ok": self.roundtrip_ok,
            "status_values_dropped": self.status_values_dropped,
            "failure": self.failure,
            "workload_errors": self.workload_errors,
            "workload_error_examples": list(self.workload_error_examples),
            "table": self.table,
            "left": list(self.left),
            "backup": self.backup,
            "notes": list(self.notes),
            "steps": [s.to_dict() for s in self.steps],
            "roundtrip_steps": [s.to_dict() for s in self.roundtrip_steps],
            **self.data_checks(),
        }

    def summary(self) -> str:
        """One line: ``REHEARSAL OK: ...`` or ``REHEARSAL FAILED: <why>; ...`` (milliseconds)."""
        worst = max((s.max_write_stall_s for s in self.steps), default=0.0)
        on = self.server_version or self.dialect
        stats = (f"{len(self.steps)} step(s) on {on}, longest write stall "
                 f"{worst * 1000:,.0f} ms, {self.committed_writes} committed writes, "
                 f"{self.lost_writes} lost, {self.failed_writes} failed")
        if self.ok:
            return f"REHEARSAL OK: {stats}, round trip ok"
        trip = {True: "ok", False: "NOT ok", None: "not run"}[self.roundtrip_ok]
        why = "; ".join(r.rstrip(". ") for r in self.reasons())
        return f"REHEARSAL FAILED: {why}. {stats}, round trip {trip}"

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return f"<Rehearsal {self.summary()}>"

    def to_html(self) -> str:
        """A self-contained HTML report (plots embedded as PNG)."""
        from shopmig.rehearsal.report import rehearsal_html

        return rehearsal_html(self)

    def _repr_html_(self) -> str:
        from shopmig.rehearsal.report import rehearsal_html

        return rehearsal_html(self, standalone=False)


def default_copy_url(source: str) -> str:
    """``<name>_rehearsal`` next to the source: a file beside a SQLite file, a database on the
    same server otherwise."""
    url = parse_url(source)
    return dialect_for(url).named_like(url, "_rehearsal").render_as_string(hide_password=False)


def _prepare_copy(source: str, copy_to: str, allow_not_a_copy: bool
                  ) -> tuple[list[str], bool]:
    """Make or reuse the copy: (notes, whether this run created it)."""
    notes = []
    if database_exists(copy_to):
        marker = database_marker(copy_to) if _has_tables(copy_to) else None
        if not allow_not_a_copy and (not marker or marker.get("role") != "copy"):
            raise NotACopyError(mask_url(copy_to), "rehearse on")
        notes.append(f"reused the existing copy {mask_url(copy_to)} at revision "
                     f"{current_revision(copy_to) or 'untracked'}")
        return notes, False
    result = copy_database(source, copy_to)
    notes.append(f"copied {result.source} to {result.target} by {result.method}")
    notes.extend(result.notes)
    return notes, True


def _has_tables(url: str) -> bool:
    with use_connection(url) as conn:
        return bool(sa.inspect(conn).get_table_names())


def _baseline_url(copy_url: str) -> str:
    url = parse_url(copy_url)
    return dialect_for(url).named_like(url, "_baseline").render_as_string(hide_password=False)


def _actual_rows(copy_url: str, target: Target, key: list[str], keys: list[tuple[Any, ...]],
                 columns: list[str]) -> dict[tuple[Any, ...], dict[str, Any]]:
    """The copy's current values of ``columns`` for the rows with ``keys`` (as logged: uuids
    as text), looked up by key in batches."""
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    with use_connection(copy_url) as conn, reading(conn):
        table = reflect_table(conn, target.table, target.schema)
        names = list(dict.fromkeys([*key, *(c for c in columns if c in table.c)]))
        for i in range(0, len(keys), 300):
            chunk = keys[i : i + 300]
            cond = sa.or_(*(sa.and_(*(table.c[k] == _param(table.c[k], v)
                                      for k, v in zip(key, kt, strict=True))) for kt in chunk))
            stmt = sa.select(*(table.c[n] for n in names)).where(cond)
            for row in conn.execute(stmt).mappings():
                out[tuple(_norm(row[k]) for k in key)] = {c: row[c] for c in names}
    return out


def _param(column: sa.Column, value: Any) -> Any:
    """A logged key value (text for a uuid) as the column's own Python type."""
    try:
        kind = column.type.python_type
    except NotImplementedError:
        return value
    if not isinstance(value, str) or kind is str:
        return value
    try:  # undo workload._plain: uuids, dates and times as text, bytes as hex
        if kind is uuid.UUID:
            return uuid.UUID(value)
        if kind in (dt.datetime, dt.date, dt.time):
            return kind.fromisoformat(value)
        if kind is bytes:
            return bytes.fromhex(value)
        if kind is decimal.Decimal:
            return decimal.Decimal(value)
    except ValueError:
        pass
    return value


def _norm(value: Any) -> Any:
    """A key part as the workload logged it (uuids and such as text)."""
    from shopmig.rehearsal.workload import _plain

    return _plain(value)


def _same(got: Any, want: Any) -> bool:
    if got is None or want is None:
        return got is None and want is None
    try:
        return abs(float(got) - float(want)) <= 1e-6 * max(1.0, abs(float(want)))
    except (TypeError, ValueError):
        return str(_norm(got)) == str(want)


def _key_tuples(frame: pd.DataFrame, key: list[str]) -> set[tuple[Any, ...]]:
    if frame.empty:
        return set()
    return {tuple(_norm(v) for v in row) for row in frame[key].itertuples(index=False)}


def _result_keys(frame: pd.DataFrame, key: list[str]) -> set[tuple[Any, ...]]:
    """The keys of a verify result's ``changed``/``expectation_failures`` rows, as tuples."""
    if frame.empty:
        return set()
    return {(_norm(k),) if len(key) == 1 else tuple(map(_norm, k)) for k in frame["key"]}


@dataclass(frozen=True)
class _Check:
    result: VerifyResult
    lost: int
    unexplained: int
    committed: int
    workload_errors: int
    examples: list[str]


def _check(copy_url: str, baseline: str, events: list[WriteEvent], target: Target,
           key: list[str]) -> _Check:
    """Verify the copy against the baseline and explain every difference by the workload's
    committed writes: a committed write the copy does not hold is *lost*; a difference no
    committed write explains (a row gone, a value changed, the new column not at its default)
    is *unexplained* (the migration changed data)."""
    def has_column(url: str) -> bool:
        with use_connection(url) as conn, reading(conn):
            return target.column in {c["name"] for c in sa.inspect(conn).get_columns(
                target.table, schema=target.schema)}

    # the column this rehearsal added: every row that existed before must hold its default
    added = has_column(copy_url) and not has_column(baseline)
    expect = {target.column: STATUS_DEFAULT} if added else None
    # one comparison gives both: changed values, and pre-existing rows off the default
    result = verify(baseline, copy_url, table=target.display,
                    key=key, expect=expect)
    expected = dict(expected_state(events))
    written = sorted({c for want in expected.values() for c in want if not c.startswith("__")})
    actual = _actual_rows(copy_url, target, key, list(expected), written)
    lost = sum(not (k in actual and all(_same(actual[k].get(c), v) for c, v in want.items()
                                        if not c.startswith("__") and c in actual[k]))
               for k, want in expected.items())
    missing = _key_tuples(result.missing, key)
    unexpected = _key_tuples(result.unexpected, key)
    unexplained = len(missing) + len((_result_keys(result.changed, key) | unexpected)
                                      - set(expected))
    if expect:
        touched = {k for k, want in expected.items() if target.column in want}
        unexplained += len(_result_keys(result.expectation_failures, key) - touched)
    errors = [e for e in events if not e.ok and e.error_kind == "workload"]
    examples = list(dict.fromkeys(f"{e.kind}: {e.error}" for e in errors))[:3]
    return _Check(result, lost, unexplained, sum(e.ok for e in events), len(errors), examples)


def rehearse(
    source: str,
    *,
    copy_to: str | None = None,
    target: str = "head",
    rows_per_sec: float = 50.0,
    duration_s: float = 300.0,
    options: MigrationOptions | None = None,
    backup_dir: str | Path | None = "shopmig-backups",
    allow_not_a_copy: bool = False,
    roundtrip: bool = True,
    seed: int = 0,
    progress: bool = False,
    on_step: Callable[[str], None] | None = None,
    table: str | None = None,
    column: str | None = None,
    workload: Sequence[str] | None = None,
) -> Rehearsal:
    """Rehearse every pending step on a copy of ``source`` under a write workload.

    - ``copy_to``: the rehearsal copy (default ``<name>_rehearsal`` beside the source). Made with
      :func:`shopmig.copy_database` if missing; reused if it is a shopmig copy (a second run
      resumes where a failed one stopped; a copy a finished run left at the target is rolled back
      to the source's revision first, so the rehearsal runs again); anything else raises
      :class:`~shopmig.errors.NotACopyError` unless ``allow_not_a_copy``. It is never the
      source (compared by identity, not URL text).
    - ``table``/``column``: the table and the column to add (default: as adopted, else
      ``orders``/``status``). A source that is not adopted is checked *before* any copy is made;
      the copy is adopted, never the source.
    - ``workload``: SQL statements of your own instead of the writes derived from the table.
    - ``backup_dir``: where the pre-migration backup of the copy goes (None: no backup).
    - ``rows_per_sec``/``duration_s``: the workload's rate and its hard time limit.
    - ``options``: lock timeouts, retries and whether table rewrites are allowed.
    - ``progress``: a tqdm bar on stderr; ``on_step(message)`` is called as each phase starts.

    A failing step stops the rehearsal: the copy stays at the last good revision and the failure
    is in the result (``ok`` is False). On an error or Ctrl-C, every database this run made that
    is not a result (the baseline; the copy, if no step ran on it) is removed, and the error
    says what is left. Never writes to ``source``.
    """
    validate.rehearse_options(source, copy_to or default_copy_url(source), options=options,
                              rows_per_sec=rows_per_sec, duration_s=duration_s,
                              backup_dir=backup_dir)
    require_local(source) if is_server(source) else None
    copy_url = copy_to or default_copy_url(source)
    require_local(copy_url)
    opts = options or MigrationOptions()
    with use_connection(source) as src, reading(src):
        source_revision = current_revision(src)
        tgt = resolve_target(src, table, column)
    if source_revision is None:
        problems = baseline_differences(source, table=_table_arg(tgt), column=tgt.column)
        if problems:
            raise SchemaMismatchError(tgt.display, mask_url(source), problems)
    made: list[str] = []
    baseline = _baseline_url(copy_url)
    stepped = False
    try:
        notes, created = _prepare_copy(source, copy_url, allow_not_a_copy)
        if created:
            made.append(copy_url)
        result = _rehearse_on_copy(
            source, copy_url, baseline, made, tgt, source_revision, notes, target=target,
            rows_per_sec=rows_per_sec, duration_s=duration_s, opts=opts,
            backup_dir=backup_dir, roundtrip=roundtrip, seed=seed, progress=progress,
            on_step=on_step, workload=workload)
        stepped = True
        return result
    except BaseException as exc:
        left = _clean_up(made, baseline, keep_copy=stepped or _moved(copy_url, made))
        if isinstance(exc, KeyboardInterrupt):
            raise RehearsalInterruptedError(mask_url(copy_url), left) from None
        if isinstance(exc, ShopmigError) and left:
            exc.args = (f"{exc.args[0]} Left after the failed rehearsal: {'; '.join(left)}.",)
        raise
    finally:
        if database_exists(baseline):
            drop_database(baseline)


def _table_arg(tgt: Target) -> str:
    return tgt.table if tgt.schema is None else f'"{tgt.schema}"."{tgt.table}"'


def _moved(copy_url: str, made: list[str]) -> bool:
    """True when the copy made by this run has been migrated (so it is a result to keep)."""
    if copy_url not in made or not database_exists(copy_url):
        return copy_url not in made
    try:
        return current_revision(copy_url) not in (None, BASELINE)
    except ShopmigError:
        return True


def _clean_up(made: list[str], baseline: str, *, keep_copy: bool) -> list[str]:
    """Drop what this run made that is not a result; say what is left."""
    left = []
    with contextlib.suppress(ShopmigError):
        if database_exists(baseline):
            drop_database(baseline)
    for url in made:
        if keep_copy:
            left.append(f"the copy {mask_url(url)} at revision "
                        f"{_revision_or_unknown(url)} (run again to resume)")
            continue
        with contextlib.suppress(ShopmigError):
            drop_database(url)
    return left


def _revision_or_unknown(url: str) -> str:
    try:
        return current_revision(url) or "untracked"
    except ShopmigError:
        return "unknown"


def _rehearse_on_copy(
    source: str, copy_url: str, baseline: str, made: list[str], tgt: Target,
    source_revision: str | None, notes: list[str], *, target: str, rows_per_sec: float,
    duration_s: float, opts: MigrationOptions, backup_dir: str | Path | None,
    roundtrip: bool, seed: int, progress: bool, on_step: Callable[[str], None] | None,
    workload: Sequence[str] | None,
) -> Rehearsal:
    bar = tqdm(desc="rehearse", unit="step", disable=not progress, leave=False,
               file=sys.stderr)

    def say(message: str) -> None:
        bar.set_postfix_str(message[:60])
        bar.update(1)
        if on_step is not None:
            on_step(message)

    table_arg = _table_arg(tgt)
    started_at = _now_iso()
    with use_connection(copy_url) as conn, reading(conn):
        server = dialect_for(conn).server_label
    if current_revision(copy_url) is None:
        adopt(copy_url, table=table_arg, column=tgt.column)
        notes.append(f"adopted {tgt.display} on the copy (the source is not changed)")
    start_at = source_revision or BASELINE
    if not plan(copy_url, target, table=table_arg) and current_revision(copy_url) != start_at:
        rewind = dataclasses.replace(opts, allow_table_rewrite=True)
        downgrade(copy_url, start_at, options=rewind, table=table_arg)
        notes.append(f"the copy was at {target} from an earlier run: rolled it back to "
                     f"{start_at} to rehearse again")
    backup = None
    if backup_dir is not None:
        from shopmig.copying.backup import backup_database

        backup = backup_database(copy_url, Path(backup_dir)).to_dict()
        say(f"backed up the copy to {backup.get('path')}")
    if database_exists(baseline):
        drop_database(baseline)
    copy_database(copy_url, baseline)
    start = current_revision(copy_url)
    pending = plan(copy_url, target, table=table_arg, options=opts)
    with use_connection(copy_url) as conn, reading(conn):
        key = list(dialect_for(conn).table_state(conn, tgt).primary_key)
    shop = ShopWorkload(copy_url, rows_per_sec=rows_per_sec, duration_s=duration_s, seed=seed,
                        table=table_arg, column=tgt.column, statements=workload)
    order = revisions()
    shop.status_ready = start is not None and order.index(start) >= order.index(steps.ADD_STATUS)
    ran: list[RehearsedStep] = []
    failure = None
    try:
        shop.start()
        time.sleep(min(TAIL_S, duration_s / 10))
        for step in pending:
            say(f"step {step.revision}: {step.impact.summary}")
            t0 = shop.now()
            error = None
            attempts = 1
            try:
                done = upgrade(copy_url, step.revision, options=opts, table=table_arg)
                attempts = max((a.attempts for a in done if a.direction == "up"), default=1)
            except ShopmigError as exc:
                error = str(exc)
            t1 = shop.now()
            if step.revision == steps.ADD_STATUS and error is None:
                shop.status_ready = True
            record = _replace(_step_record(step, t0, t1, error), attempts=attempts)
            if error is None:
                with shop.paused():  # the check sees every write that was logged
                    check = _check(copy_url, baseline, list(shop.events), tgt, key)
                record = _replace(record, verify_ok=check.lost == 0 and check.unexplained == 0)
            ran.append(record)
            if error is not None:
                failure = f"step {step.revision} failed: {error}"
                mismatch = half_applied(copy_url, table=table_arg)
                if mismatch:
                    failure += f" Half-applied: {mismatch}"
                break
        time.sleep(min(TAIL_S, duration_s / 10))
    finally:
        events = shop.stop()
    frame = shop.frame()
    ran = [_with_stats(s, frame) for s in ran]
    end = current_revision(copy_url)
    final = _check(copy_url, baseline, events, tgt, key)
    rt_ok, rt_result, dropped = None, None, 0
    trip_steps: list[RehearsedStep] = []
    if roundtrip and failure is None and ran:
        say("round trip: down to the start, then up again")
        rt_ok, rt_result, dropped, trip_steps = _roundtrip(
            copy_url, baseline, start, end, final.result, opts, tgt, key)
    bar.close()
    return Rehearsal(
        source=mask_url(source), copy=mask_url(copy_url),
        dialect=dialect_for(parse_url(copy_url)).name,
        start_revision=start, end_revision=end, steps=ran, lost_writes=final.lost,
        failed_writes=int((~frame["ok"]).sum()) if len(frame) else 0,
        committed_writes=final.committed, unexplained_differences=final.unexplained,
        roundtrip_ok=rt_ok, status_values_dropped=dropped, verification=final.result,
        roundtrip_verification=rt_result, events=frame, backup=backup, failure=failure,
        notes=notes, workload_errors=final.workload_errors,
        workload_error_examples=final.examples, table=tgt.display,
        left=[f"the copy {mask_url(copy_url)} at revision {end}"]
        + ([f"the backup {backup['path']}"] if backup else []),
        started_at=started_at, server_version=server, rows_per_sec=rows_per_sec,
        duration_s=duration_s, options=opts.to_dict(), roundtrip_steps=trip_steps,
    )


def _step_record(step: Any, t0: float, t1: float, error: str | None) -> RehearsedStep:
    return RehearsedStep(
        revision=step.revision, direction=step.direction, summary=step.impact.summary,
        sql=step.sql, lock=step.impact.lock, rewrites_table=step.impact.rewrites_table,
        started_s=round(t0, 4), seconds=round(t1 - t0, 4), writes=0, failed_writes=0,
        max_write_stall_s=0.0, p50_write_latency_s=0.0, p99_write_latency_s=0.0,
        ok=error is None, error=error,
    )


def _with_stats(step: RehearsedStep, frame: pd.DataFrame) -> RehearsedStep:
    stats = window_stats(frame, step.started_s, step.started_s + step.seconds)
    return _replace(step, **stats)


def _replace(step: RehearsedStep, **changes: Any) -> RehearsedStep:
    return RehearsedStep(**{**step.to_dict(), **changes})


def _roundtrip(copy_url: str, baseline: str, start: str | None, end: str | None,
               before: VerifyResult, opts: MigrationOptions, tgt: Target, key: list[str]
               ) -> tuple[bool, VerifyResult, int, list[RehearsedStep]]:
    """Down to ``start`` and up to ``end`` again (no workload): rows and values must come back
    exactly as they were; values of the migration's column set since the upgrade are dropped
    (counted). The round trip may rewrite the copy's table (SQLite's DROP COLUMN): it is a copy,
    and the cost is measured."""
    table_arg = _table_arg(tgt)
    dropped = 0
    with use_connection(copy_url) as conn, reading(conn):
        columns = {c["name"] for c in sa.inspect(conn).get_columns(tgt.table, schema=tgt.schema)}
        if tgt.column in columns:
            t = sa.table(tgt.table, sa.column(tgt.column), schema=tgt.schema)
            dropped = conn.execute(sa.select(sa.func.count()).select_from(t).where(
                t.c[tgt.column] != STATUS_DEFAULT)).scalar_one()
    trip = dataclasses.replace(opts, allow_table_rewrite=True)
    timed: list[RehearsedStep] = []
    clock = time.perf_counter()

    def record(step: Any) -> None:  # each round-trip step as it starts (its plan)
        timed.append(_replace(_step_record(step, time.perf_counter() - clock, 0.0, None),
                              phase="roundtrip"))

    ran = [*downgrade(copy_url, start or revisions()[0], options=trip, table=table_arg,
                      on_step=record),
           *upgrade(copy_url, end or "head", options=trip, table=table_arg, on_step=record)]
    ran = [a for a in ran if a.direction in ("up", "down")]
    timed = [_replace(s, seconds=a.seconds, attempts=a.attempts)
             for s, a in zip(timed, ran, strict=False)]
    after = verify(baseline, copy_url, table=tgt.display, key=key,
                   expect={tgt.column: STATUS_DEFAULT})
    same = (before.missing.equals(after.missing)
            and _key_tuples(before.unexpected, key) == _key_tuples(after.unexpected, key)
            and _value_changes(before, tgt) == _value_changes(after, tgt))
    statuses_reset = after.expectation_failures.empty
    return bool(same and statuses_reset), after, int(dropped), timed


def _value_changes(result: VerifyResult, tgt: Target) -> list[tuple[Any, ...]]:
    changed = result.changed[result.changed["column"] != tgt.column]
    return sorted((str(k), c, str(a)) for k, c, a in
                  changed[["key", "column", "after"]].itertuples(index=False, name=None))
