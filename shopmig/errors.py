"""Every error shopmig raises on purpose.

All of them derive from :class:`ShopmigError`. Each subclass carries the data a
caller needs to act on it (the table, the revision, the URL with its password
masked) and a message that says what went wrong *and what to do next*. The CLI
prints ``shopmig: error: <message>`` and exits with :attr:`ShopmigError.exit_code`.

No message ever contains a password: URLs are always passed through
:func:`shopmig.db.mask_url` before they are stored on an exception.
"""

from __future__ import annotations

from collections.abc import Sequence


class ShopmigError(Exception):
    """Base class of every error shopmig raises deliberately.

    ``exit_code`` is what the CLI returns for it: 2 for bad usage, bad input or a
    database problem (the default), 1 for "a check found differences".
    """

    exit_code: int = 2

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.problem = message
        self.hint = hint
        super().__init__(f"{message} {hint}" if hint else message)


class InvalidArgumentError(ShopmigError):
    """An argument has the wrong type or value (for example ``rows=-5``)."""

    def __init__(self, name: str, value: object, expected: str) -> None:
        self.name = name
        self.value = value
        self.expected = expected
        super().__init__(
            f"{name} must be {expected}, got {value!r}.",
            hint=f"Pass {name} as {expected}.",
        )


class InvalidURLError(ShopmigError):
    """The database URL cannot be parsed or names a driver that is not installed."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        super().__init__(
            f"cannot use database URL {url!r}: {reason}.",
            hint="Use a SQLAlchemy URL such as sqlite:///shop.db, "
            "postgresql+psycopg://user@host/db or mysql+pymysql://user@host/db.",
        )


class DatabaseUnreachableError(ShopmigError):
    """Nothing answers at the host and port of the URL."""

    def __init__(self, url: str, detail: str) -> None:
        self.url = url
        super().__init__(
            f"cannot reach the database server for {url}: {detail}.",
            hint="Check that the server is running and that host and port are right.",
        )


class AuthenticationError(ShopmigError):
    """The server refused the user name or password."""

    def __init__(self, url: str, detail: str) -> None:
        self.url = url
        super().__init__(
            f"the server refused the login for {url}: {detail}.",
            hint="Check the user name and password in the URL (special characters must be "
            "percent-encoded).",
        )


class DatabaseNotFoundError(ShopmigError):
    """The database named in the URL does not exist (or the SQLite file is missing)."""

    def __init__(self, url: str, detail: str = "it does not exist") -> None:
        self.url = url
        super().__init__(
            f"database {url} not found: {detail}.",
            hint="Create it first (for a demo shop: shopmig init-demo), or fix the URL.",
        )


class DatabaseError(ShopmigError):
    """Any other error reported by the database driver, with the URL masked."""

    def __init__(self, url: str, detail: str, *, hint: str | None = None) -> None:
        self.url = url
        super().__init__(
            f"database error on {url}: {detail.rstrip('.')}.",
            hint=hint or "Fix the cause above and try again.",
        )


class TableNotFoundError(ShopmigError):
    """The table to inspect, migrate or verify does not exist."""

    def __init__(self, table: str, url: str, existing: Sequence[str] = ()) -> None:
        self.table = table
        self.url = url
        self.existing = list(existing)
        have = ", ".join(self.existing) if self.existing else "no tables"
        super().__init__(
            f"table {table!r} not found in {url} (it has {have}).",
            hint="Check the URL points at your shop's database, or create a demo shop "
            "with: shopmig init-demo.",
        )


class TableExistsError(ShopmigError):
    """A table that shopmig would create is already there."""

    def __init__(self, table: str, url: str) -> None:
        self.table = table
        self.url = url
        super().__init__(
            f"table {table!r} already exists in {url}.",
            hint="Pass replace=True (CLI: --replace) to drop and rebuild the demo shop, "
            "or use another database.",
        )


class SchemaMismatchError(ShopmigError):
    """The table's schema is not what the migration expects.

    ``differences`` lists each difference as a sentence.
    """

    def __init__(self, table: str, url: str, differences: Sequence[str]) -> None:
        self.table = table
        self.url = url
        self.differences = list(differences)
        super().__init__(
            f"table {table!r} in {url} cannot be adopted: "
            + "; ".join(self.differences)
            + ". Nothing was written.",
            hint="Each reason above names its fix; everything else in the table (columns, "
            "keys, indexes, triggers, views) is yours and is left as it is.",
        )


class NotVersionedError(ShopmigError):
    """The database has the table but no shopmig version table yet."""

    def __init__(self, url: str, table: str = "orders") -> None:
        self.url = url
        self.table = table
        super().__init__(
            f"{url} has a table {table} that shopmig does not track yet.",
            hint="Check and stamp it at the baseline first: shopmig adopt "
            "(Python: shopmig.adopt(conn)).",
        )


class AlreadyVersionedError(ShopmigError):
    """``adopt`` was called on a database that shopmig already tracks."""

    def __init__(self, url: str, revision: str | None) -> None:
        self.url = url
        self.revision = revision
        super().__init__(
            f"{url} is already tracked by shopmig (revision {revision or 'base'}).",
            hint="Nothing to adopt; use shopmig upgrade/downgrade.",
        )


class UnknownRevisionError(ShopmigError):
    """A revision id or relative target that names no revision."""

    def __init__(self, target: str, known: Sequence[str], reason: str | None = None) -> None:
        self.target = target
        self.known = list(known)
        self.reason = reason
        if reason:
            super().__init__(f"cannot go to {target!r}: {reason}.",
                             hint="Nothing was changed.")
            return
        super().__init__(
            f"unknown revision {target!r}.",
            hint="Use one of: " + ", ".join([*self.known, "head", "base", "+1", "-1"]) + ".",
        )


class NotACopyError(ShopmigError):
    """A command that changes data was pointed at a database that is not a copy."""

    def __init__(self, url: str, action: str) -> None:
        self.url = url
        self.action = action
        super().__init__(
            f"refusing to {action} {url}: it is neither a shopmig copy nor a demo database.",
            hint="Make a rehearsal copy first (shopmig copy SRC DST) and point shopmig at the "
            "copy, or pass --yes-this-is-not-a-copy if you really mean this database.",
        )


class TargetExistsError(ShopmigError):
    """The destination of a copy already exists."""

    def __init__(self, url: str) -> None:
        self.url = url
        super().__init__(
            f"the copy target {url} already exists.",
            hint="Choose a new database name or file, or drop the old copy first.",
        )


class LockTimeoutError(ShopmigError):
    """A DDL step could not get its lock within the lock timeout, after every retry."""

    def __init__(self, url: str, revision: str, attempts: int, lock_timeout: float) -> None:
        self.url = url
        self.revision = revision
        self.attempts = attempts
        self.lock_timeout = lock_timeout
        super().__init__(
            f"step {revision} on {url} gave up after {attempts} attempt(s): another session "
            f"held a lock on the table for longer than the {lock_timeout:g}s lock timeout. "
            "Nothing was changed.",
            hint="Find the long transaction (PostgreSQL: pg_stat_activity; MariaDB: SHOW "
            "PROCESSLIST), let it finish, then run the step again.",
        )


class UnsafeMigrationError(ShopmigError):
    """A step would rewrite or block a large table and was not explicitly allowed."""

    def __init__(self, revision: str, url: str, reason: str, hint: str) -> None:
        self.revision = revision
        self.url = url
        self.reason = reason
        super().__init__(f"step {revision} refused on {url}: {reason}", hint=hint)


class MigrationFailedError(ShopmigError):
    """A migration step failed. ``changed`` says what shopmig found in the catalog afterwards:
    False (checked: nothing changed, still at ``revision``), True (the step is half-applied,
    ``state`` says how) or None (the connection was lost before it could check)."""

    def __init__(self, url: str, step: str, revision: str | None, detail: str, *,
                 changed: bool | None = False, state: str | None = None) -> None:
        self.url = url
        self.step = step
        self.revision = revision
        self.detail = detail
        self.changed = changed
        self.state = state
        if changed is False:
            outcome = (f"Checked afterwards: nothing was changed; the database is still at "
                       f"revision {revision or 'base'}.")
            hint = "Fix the cause above and run the step again."
        elif changed:
            outcome = f"The step is half-applied: {state}"
            hint = "Run shopmig upgrade again: it records the real revision and goes on."
        else:
            outcome = "Whether the server kept part of the step could not be checked."
            hint = ("Reconnect and run shopmig history (it compares the schema with the "
                    "version table), then shopmig upgrade, which repairs what it can name.")
        super().__init__(f"step {step} failed on {url}: {detail.rstrip('.')}. {outcome}",
                         hint=hint)


class KeyColumnError(ShopmigError):
    """The key column used to match rows does not exist on one side."""

    def __init__(self, key: str, side: str, columns: Sequence[str]) -> None:
        self.key = key
        self.side = side
        self.columns = list(columns)
        super().__init__(
            f"key column {key!r} not found in the {side} table (columns: "
            + ", ".join(self.columns)
            + ").",
            hint="Pass the table's primary key with key=... (CLI: --key).",
        )


class NoPrimaryKeyError(ShopmigError):
    """verify was asked to match rows by the primary key of a table that has none."""

    def __init__(self, table: str, side: str) -> None:
        self.table = table
        self.side = side
        super().__init__(
            f"table {table!r} in the {side} database has no primary key to match rows by.",
            hint="Name the column(s) whose values identify a row: key='order_id' or "
            "key=['order_id', 'line_no'] (CLI: --key order_id or --key order_id,line_no).",
        )


class KeyNotUniqueError(ShopmigError):
    """The key column has duplicate values, so rows cannot be matched one to one."""

    def __init__(self, key: str, side: str, duplicates: Sequence[object]) -> None:
        self.key = key
        self.side = side
        self.duplicates = list(duplicates)
        shown = ", ".join(repr(d) for d in self.duplicates[:5])
        super().__init__(
            f"key column {key!r} is not unique in the {side} table "
            f"({len(self.duplicates)} duplicated value(s), e.g. {shown}).",
            hint="Use a column (or primary key) whose values are unique.",
        )


class BackupToolMissingError(ShopmigError):
    """The program that makes or restores a backup (``pg_dump``, ``mariadb-dump``...) is not
    installed, or only in a version too old for the server."""

    def __init__(self, tool: str, package: str, detail: str) -> None:
        self.tool = tool
        self.package = package
        super().__init__(
            f"cannot back up or restore with {tool}: {detail}.",
            hint=f"Install it (Debian/Ubuntu: apt-get install {package}) or put {tool} on PATH, "
            "then try again.",
        )


class BackupFailedError(ShopmigError):
    """A backup or restore tool ran and failed; ``detail`` holds the first lines of its error
    output (passwords masked)."""

    def __init__(self, tool: str, url: str, detail: str) -> None:
        self.tool = tool
        self.url = url
        self.detail = detail
        super().__init__(
            f"{tool} failed for {url}: {detail.rstrip('.')}.",
            hint="Fix the cause above; no backup file was kept and a half-restored target "
            "database was dropped.",
        )


class MigrationLockedError(ShopmigError):
    """Another session holds shopmig's migration lock on this database (one migrator at a
    time); ``holder`` names it as the server reports it."""

    def __init__(self, key: str, holder: str, waited_s: float) -> None:
        self.key = key
        self.holder = holder
        self.waited_s = waited_s
        super().__init__(
            f"another shopmig migration is running on this database ({holder}); waited "
            f"{waited_s:g}s for it to finish. Nothing was changed by this run.",
            hint="Let that migration finish (or stop it), then run this command again.",
        )


class ConcurrentMigrationError(ShopmigError):
    """The database moved while this run waited: another session ran a step first."""

    def __init__(self, url: str, revision: str, expected: str | None,
                 actual: str | None) -> None:
        self.url = url
        self.revision = revision
        self.expected = expected
        self.actual = actual
        super().__init__(
            f"step {revision} on {url} did not run: this run planned from revision "
            f"{expected or 'base'}, but the database is now at {actual or 'base'} (another "
            "session migrated it meanwhile). This run changed nothing.",
            hint="Check where the database is (shopmig history) and run the command again.",
        )


class ExistingRowsViolateError(MigrationFailedError):
    """Rows already in the table break the rule a step adds (a CHECK): the step was rolled back
    and nothing was changed (the database stays at ``revision``)."""

    def __init__(self, url: str, step: str, revision: str | None, table: str, column: str,
                 rows: int, rule: str) -> None:
        self.table = table
        self.column = column
        self.rows = rows
        self.rule = rule
        ShopmigError.__init__(
            self,
            f"step {step} on {url} stopped: {rows:,} row(s) of {table} break the rule it "
            f"adds ({rule}). The step was rolled back; nothing was changed and the database is "
            f"still at revision {revision or 'base'}.",
            hint=f"Fix those rows first (SELECT them with the rule negated, then UPDATE "
            f"{column}), then run the step again.",
        )
        self.url = url
        self.step = step
        self.revision = revision
        self.detail = f"{rows} row(s) break {rule}"
        self.changed = False
        self.state = None


class HalfAppliedError(ShopmigError):
    """The schema and the recorded revision disagree, and shopmig cannot repair it alone."""

    def __init__(self, url: str, recorded: str | None, actual: str | None, detail: str,
                 fix: str) -> None:
        self.url = url
        self.recorded = recorded
        self.actual = actual
        self.detail = detail
        super().__init__(
            f"{url} is recorded at revision {recorded or 'base'} but its table shows "
            f"{detail}.",
            hint=fix,
        )


class RehearsalInterruptedError(ShopmigError):
    """The rehearsal was interrupted (Ctrl-C); what it made that is not a result was removed."""

    def __init__(self, copy: str, left: list[str]) -> None:
        self.copy = copy
        self.left = list(left)
        super().__init__(
            "the rehearsal was interrupted; its scratch databases were removed"
            + (f"; left: {'; '.join(left)}" if left else "; nothing is left behind") + ".",
            hint="Run it again to resume on the same copy.")


class CopyIncompleteError(ShopmigError):
    """A copy does not hold every object of its source (``differences``: one sentence per
    object missing, extra or changed). The half-made copy was dropped."""

    def __init__(self, source: str, target: str, method: str,
                 differences: Sequence[str]) -> None:
        self.source = source
        self.target = target
        self.method = method
        self.differences = list(differences)
        shown = "; ".join(self.differences[:10])
        more = len(self.differences) - 10
        super().__init__(
            f"the copy of {source} made by {method} into {target} is not exact: {shown}"
            + (f"; ... ({more} more)" if more > 0 else "") + ". The copy was dropped.",
            hint="Report this with the objects above; meanwhile copy with the database's "
            "own tools by hand (pg_dump/pg_restore, mariadb-dump) and check the objects.",
        )


class SameDatabaseError(ShopmigError):
    """A copy (or rehearsal copy) would be the source database itself: the two URLs reach the
    same database (compared by identity: the server and the database's name, or the SQLite
    file's device and inode), so writing the "copy" would write the source."""

    def __init__(self, source: str, target: str, action: str = "copy") -> None:
        self.source = source
        self.target = target
        self.action = action
        super().__init__(
            f"refusing to {action}: {target} is the source database {source} itself (the two "
            "URLs reach the same database). Nothing was changed.",
            hint="Name a different database (or file) for the copy.",
        )


class UnwritablePathError(ShopmigError):
    """A file or folder shopmig was asked to write cannot be written (checked before anything
    else happens)."""

    def __init__(self, name: str, path: str, reason: str) -> None:
        self.name = name
        self.path = path
        self.reason = reason
        super().__init__(
            f"{name} {path!r} cannot be written: {reason}. Nothing was changed.",
            hint="Choose a path in a folder that exists and that you can write to.",
        )


class DiskFullError(ShopmigError):
    """The disk (or the database's storage) ran out of space while shopmig wrote to it.
    ``cleaned`` says whether what was half-made was removed again (checked, not assumed)."""

    def __init__(self, where: str, detail: str, *, cleaned: bool | None = None) -> None:
        self.where = where
        self.detail = detail
        self.cleaned = cleaned
        outcome = {True: " What was half-made was removed again.",
                   False: " A half-made result may be left behind: check before retrying.",
                   None: ""}[cleaned]
        super().__init__(
            f"no space left writing {where}: {detail.rstrip('.')}.{outcome}",
            hint="Free some disk space (or choose another place) and run the command again.",
        )


class TargetRequiredError(ShopmigError):
    """``shopmig upgrade``/``downgrade`` without a TARGET: which way and how far is the user's
    call, so shopmig says what each choice would do instead of running a step."""

    def __init__(self, command: str, choices: Sequence[str], current: str | None = None) -> None:
        self.command = command
        self.choices = list(choices)
        self.current = current
        if self.choices:
            problem = f"{command} needs a TARGET; say which: " + " or ".join(self.choices) + "."
        else:
            problem = (f"{command} needs a TARGET, and there is nothing to {command}: the "
                       f"database is at {current or 'base'}.")
        super().__init__(problem, hint="Preview a step's SQL first with: shopmig sql TARGET.")


class TargetDirectionError(ShopmigError):
    """A target that lies the other way (``downgrade +1``, ``upgrade -1``, ``downgrade head``):
    says why and names the command that goes there."""

    def __init__(self, command: str, target: str, other: str, valid: str) -> None:
        self.command = command
        self.target = target
        self.other = other
        why = {"+": "+N goes up", "-": "-N goes down", "h": "head is the newest revision, up",
               "b": "base is the baseline revision, down"}.get(target[:1], "that is the other way")
        super().__init__(
            f"{command} cannot go to {target!r}: {why}; use shopmig {other} {target}.",
            hint=f"{command} takes {valid}.",
        )


class StampRefusedError(ShopmigError):
    """``stamp`` was asked to record something that is not a full revision id (a prefix, a
    typo, ``+1``): recovery writes only what is spelled out."""

    def __init__(self, revision: str, reason: str, known: Sequence[str], hint: str) -> None:
        self.revision = revision
        self.known = list(known)
        super().__init__(
            f"not recording revision {revision!r}: {reason}. Nothing was written.", hint=hint)


class FileSystemError(ShopmigError):
    """Reading or writing a file failed for a reason of the file system (permissions, a
    missing folder, a read-only disk)."""

    def __init__(self, path: str, detail: str) -> None:
        self.path = path
        super().__init__(f"cannot use the file {path!r}: {detail.rstrip('.')}.",
                         hint="Check the path and its permissions, then try again.")


class UnexpectedError(ShopmigError):
    """An error shopmig did not foresee (a bug, or a driver/library failure it does not name
    yet), reported in one line with the password masked instead of a traceback."""

    def __init__(self, kind: str, detail: str) -> None:
        self.kind = kind
        self.detail = detail
        super().__init__(
            f"{kind}: {detail.rstrip('.') or 'no detail'}.",
            hint="Set SHOPMIG_TRACEBACK=1 to see the traceback, and please report it.",
        )
