"""Reading SQL text for the rules: split it into statements and tell what each one does.

A tolerant reader, not a SQL parser: it splits at top-level semicolons (outside quotes and
comments), blanks string literals and drops comments so that a rule never matches inside
them, and recognizes the statement shapes the rules are about (``ALTER TABLE`` and its
actions, ``CREATE INDEX``, ``CREATE TABLE``, ``INSERT ... SELECT``, ``UPDATE``, ``DROP TABLE``,
``SET`` of a lock timeout, MariaDB's ``SET STATEMENT ... FOR``). Case does not matter; quoted
and schema-qualified names are understood.

Why not a parser library: sqlglot (30.x) reads ``ALTER TABLE ... VALIDATE CONSTRAINT``,
MariaDB's ``CREATE INDEX ... ALGORITHM=INPLACE LOCK=NONE`` and ``SET STATEMENT ... FOR`` only
as opaque commands, which are exactly the statements these rules must read, so a text
fallback would be needed anyway; sqlparse tokenizes but does not tell an ``ALTER TABLE``'s
actions apart. The shapes below are what the rules need, and each is tested.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TypedDict

FLAGS = re.I | re.S
IDENT = r'(?:"(?:[^"]|"")+"|`[^`]+`|\[[^\]]+\]|[A-Za-z_][\w$]*)'
QNAME = rf"{IDENT}(?:\s*\.\s*{IDENT})?"


@dataclass(frozen=True)
class Statement:
    """One statement: ``text`` as written (whitespace collapsed, shown in findings) and
    ``code`` (string literals emptied, comments removed, whitespace collapsed: what rules
    match)."""

    text: str
    code: str


def split(sql: str) -> Iterator[Statement]:
    """Split ``sql`` at top-level semicolons, outside quotes and comments."""
    text: list[str] = []
    code: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        ch = sql[i]
        if ch == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end
            continue
        if ch == "/" and sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            i = n if end < 0 else end + 2
            text.append(" ")
            code.append(" ")
            continue
        if ch in "'\"`":
            end = i + 1
            while end < n:
                if sql[end] == ch:
                    if end + 1 < n and sql[end + 1] == ch:  # doubled quote inside the literal
                        end += 2
                        continue
                    break
                if sql[end] == "\\" and ch == "'":
                    end += 1
                end += 1
            literal = sql[i : end + 1]
            text.append(literal)
            code.append("''" if ch == "'" else literal)  # identifiers keep their names
            i = end + 1
            continue
        if ch == ";":
            yield from _emit(text, code)
            text, code = [], []
            i += 1
            continue
        text.append(ch)
        code.append(ch)
        i += 1
    yield from _emit(text, code)


def _emit(text: list[str], code: list[str]) -> Iterator[Statement]:
    body = " ".join("".join(code).split())
    if body:
        yield Statement(" ".join("".join(text).split()), body)


def name(raw: str) -> str:
    """``"public"."Orders"`` -> ``orders``: the last part, unquoted, lower case."""
    last = re.split(r"\s*\.\s*(?=[^.]*$)", raw.strip())[-1]
    return last.strip('"`[]').replace('""', '"').lower()


def comma_list(rest: str) -> list[str]:
    """The comma-separated parts of ``rest``, split outside parentheses."""
    out, depth, start = [], 0, 0
    for i, ch in enumerate(rest):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append(rest[start:i].strip())
            start = i + 1
    out.append(rest[start:].strip())
    return [a for a in out if a]


# ------------------------------------------------------------------ statement shapes

ALTER_TABLE = re.compile(
    rf"^ALTER\s+TABLE\s+(?:ONLINE\s+)?(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?(?P<table>{QNAME})\s+"
    r"(?P<rest>.*)$", FLAGS)
CREATE_TABLE = re.compile(
    r"^CREATE\s+(?:OR\s+REPLACE\s+)?(?:(?:GLOBAL\s+|LOCAL\s+)?(?:TEMP|TEMPORARY)\s+|UNLOGGED\s+)?"
    rf"TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(?P<table>{QNAME})", FLAGS)
CREATE_INDEX = re.compile(
    r"^CREATE\s+(?:OR\s+REPLACE\s+)?(?:ONLINE\s+|OFFLINE\s+)?(?:UNIQUE\s+|FULLTEXT\s+|SPATIAL\s+)?"
    rf"INDEX\b(?P<head>.*?)\bON\s+(?:ONLY\s+)?(?P<table>{QNAME})(?P<tail>.*)$", FLAGS)
INSERT_SELECT = re.compile(
    rf"^INSERT\s+(?:INTO\s+)?(?P<new>{QNAME}).*?\bSELECT\b.*?\bFROM\s+(?P<old>{QNAME})", FLAGS)
UPDATE = re.compile(rf"^UPDATE\s+(?:ONLY\s+)?(?P<table>{QNAME})(?:\s+\w+)?\s+SET\b", FLAGS)
DROP_TABLE = re.compile(rf"^DROP\s+TABLE\s+(?:IF\s+EXISTS\s+)?(?P<table>{QNAME})", FLAGS)
DDL = re.compile(
    r"^(?:ALTER\s+TABLE|CREATE\s+(?:UNIQUE\s+)?INDEX|DROP\s+(?:TABLE|INDEX)|TRUNCATE|"
    r"RENAME\s+TABLE|LOCK\s+TABLES?|REINDEX|CLUSTER|VACUUM\s+FULL|CREATE\s+TRIGGER|"
    r"DROP\s+TRIGGER|OPTIMIZE\s+TABLE)\b", FLAGS)
DDL_TABLE = re.compile(
    r"^(?:ALTER\s+TABLE\s+(?:ONLINE\s+)?(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?|DROP\s+TABLE\s+(?:IF\s+"
    r"EXISTS\s+)?|TRUNCATE\s+(?:TABLE\s+)?|LOCK\s+TABLES?\s+|OPTIMIZE\s+TABLE\s+|"
    rf"RENAME\s+TABLE\s+)(?P<table>{QNAME})", FLAGS)
DDL_ON = re.compile(rf"\bON\s+(?P<table>{QNAME})", FLAGS)
SET_VARIABLE = re.compile(
    r"^SET\s+(?:SESSION\s+|LOCAL\s+|@@(?:SESSION\.)?)?(?P<variable>\w+)\b"
    r"\s*(?:=|TO)?\s*(?P<value>.*)$", FLAGS)
SET_STATEMENT = re.compile(r"^SET\s+STATEMENT\s+(?P<vars>.*?)\s+FOR\s+(?P<inner>.*)$", FLAGS)
ALGORITHM = re.compile(r"\bALGORITHM\s*=?\s*(?P<value>\w+)", FLAGS)
LOCK = re.compile(r"\bLOCK\s*=?\s*(?P<value>\w+)", FLAGS)
CONCURRENTLY = re.compile(r"\bCONCURRENTLY\b", FLAGS)
NOT_VALID = re.compile(r"\bNOT\s+VALID\b", FLAGS)
WHERE = re.compile(r"\bWHERE\b", FLAGS)
VOLATILE_CALL = re.compile(
    r"\b(?:random|gen_random_uuid|uuid_generate_v[14]|uuid|uuid_short|rand|clock_timestamp|"
    r"timeofday|nextval|sys_guid|newid)\s*\(", FLAGS)
NOT_NULL_TEST = re.compile(rf"(?P<column>{IDENT})\s+IS\s+NOT\s+NULL\b", FLAGS)

# ------------------------------------------------------------------ ALTER TABLE actions

ACTIONS: dict[str, re.Pattern[str]] = {
    # kind -> pattern, tried in this order
    "option": re.compile(r"^(?:ALGORITHM|LOCK)\b", FLAGS),
    "add_column": re.compile(
        r"^ADD\s+(?:COLUMN\s+)?(?:IF\s+NOT\s+EXISTS\s+)?"
        r"(?!(?:CONSTRAINT|CHECK|INDEX|KEY|UNIQUE|PRIMARY|FOREIGN|FULLTEXT|SPATIAL|PERIOD|SYSTEM|"
        r"EXCLUDE|PARTITION)\b)"
        rf"(?P<column>{IDENT})\s+(?P<definition>.*)$", FLAGS),
    "add_check": re.compile(
        rf"^ADD\s+(?:CONSTRAINT\s+(?P<name>{IDENT})\s+)?CHECK\s*\((?P<expr>.*)\)(?P<tail>[^)]*)$",
        FLAGS),
    "add_foreign_key": re.compile(rf"^ADD\s+(?:CONSTRAINT\s+{IDENT}\s+)?FOREIGN\s+KEY\b", FLAGS),
    "add_index": re.compile(
        rf"^ADD\s+(?:CONSTRAINT\s+(?:{IDENT}\s+)?)?(?:UNIQUE|PRIMARY\s+KEY|FULLTEXT|SPATIAL|"
        r"INDEX|KEY)\b", FLAGS),
    "alter_type": re.compile(
        rf"^ALTER\s+(?:COLUMN\s+)?(?P<column>{IDENT})\s+(?:SET\s+DATA\s+)?TYPE\b", FLAGS),
    "set_not_null": re.compile(
        rf"^ALTER\s+(?:COLUMN\s+)?(?P<column>{IDENT})\s+SET\s+NOT\s+NULL\b", FLAGS),
    "modify": re.compile(r"^(?:MODIFY|CHANGE)\b", FLAGS),
    "validate": re.compile(rf"^VALIDATE\s+CONSTRAINT\s+(?P<name>{IDENT})", FLAGS),
    "drop_constraint": re.compile(
        rf"^DROP\s+(?:CONSTRAINT|CHECK)\s+(?:IF\s+EXISTS\s+)?(?P<name>{IDENT})", FLAGS),
    "drop_column": re.compile(
        r"^DROP\s+(?:COLUMN\s+)?(?:IF\s+EXISTS\s+)?"
        r"(?!(?:CONSTRAINT|CHECK|INDEX|KEY|PRIMARY|FOREIGN|PARTITION|PERIOD|SYSTEM)\b)"
        rf"(?P<column>{IDENT})", FLAGS),
}


@dataclass(frozen=True)
class Action:
    """One action of an ``ALTER TABLE`` (``kind`` is a key of :data:`ACTIONS` or ``other``)."""

    kind: str
    text: str
    match: re.Match[str] | None

    def group(self, key: str) -> str | None:
        """A named part of the action (``column``, ``definition``, ``name``, ``expr``...)."""
        return self.match.group(key) if self.match is not None else None


def action(text: str) -> Action:
    """What one ``ALTER TABLE`` action does."""
    for kind, pattern in ACTIONS.items():
        m = pattern.match(text)
        if m:
            return Action(kind, text, m)
    return Action("other", text, None)


@dataclass(frozen=True)
class Parsed:
    """One statement as the rules read it.

    ``kind`` is ``alter_table``, ``create_table``, ``create_index``, ``insert_select``,
    ``update``, ``drop_table``, ``set`` or ``other``; ``table`` the (unquoted, lower-case)
    table it is about; ``code`` the statement to match (inside MariaDB's ``SET STATEMENT ...
    FOR``); ``statement_vars`` the variables such a wrapper sets for this statement only;
    ``actions`` an ``ALTER TABLE``'s actions; ``algorithm``/``lock`` its ``ALGORITHM=`` and
    ``LOCK=`` clauses (upper case) if written; ``is_ddl`` a statement that takes a table lock;
    ``locks`` the table whose lock it takes, if it names one.
    """

    statement: Statement
    kind: str
    code: str
    table: str | None = None
    match: re.Match[str] | None = None
    actions: tuple[Action, ...] = ()
    algorithm: str | None = None
    lock: str | None = None
    statement_vars: tuple[str, ...] = ()
    is_ddl: bool = False
    locks: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """The statement as written (whitespace collapsed)."""
        return self.statement.text

    def group(self, key: str) -> str:
        """A named part of the statement's shape (``head``, ``tail``, ``new``, ``old``...)."""
        value = self.match.group(key) if self.match is not None else None
        return value or ""


def _clause(pattern: re.Pattern[str], text: str) -> str | None:
    m = pattern.search(text)
    return m["value"].upper() if m else None


def parse(statement: Statement) -> Parsed:
    """The shape of one statement."""
    code = statement.code
    statement_vars: tuple[str, ...] = ()
    wrapped = SET_STATEMENT.match(code)
    if wrapped:  # MariaDB: SET STATEMENT lock_wait_timeout=5 FOR ALTER TABLE ...
        statement_vars = tuple(v.split("=")[0].strip().lower()
                               for v in comma_list(wrapped["vars"]))
        code = wrapped["inner"]
    is_ddl = DDL.match(code) is not None
    locks = None
    if is_ddl:
        m = DDL_TABLE.match(code) or CREATE_INDEX.match(code) or DDL_ON.search(code)
        locks = name(m["table"]) if m else ""  # "": a table it does not name (DROP INDEX ix)
    common = _Common(statement=statement, code=code, statement_vars=statement_vars,
                     is_ddl=is_ddl, locks=locks)
    if not wrapped and (m := SET_VARIABLE.match(code)):
        written = SET_VARIABLE.match(statement.text)
        value = written["value"].strip().strip("'\"").lower() if written else ""
        return Parsed(kind="set", match=m, extra={"variable": m["variable"].lower(),
                                                  "value": value}, **common)
    if m := CREATE_TABLE.match(code):
        return Parsed(kind="create_table", table=name(m["table"]), match=m, **common)
    if m := ALTER_TABLE.match(code):
        rest = m["rest"]
        return Parsed(kind="alter_table", table=name(m["table"]), match=m,
                      actions=tuple(action(a) for a in comma_list(rest)),
                      algorithm=_clause(ALGORITHM, rest), lock=_clause(LOCK, rest), **common)
    if m := CREATE_INDEX.match(code):
        return Parsed(kind="create_index", table=name(m["table"]), match=m,
                      algorithm=_clause(ALGORITHM, m["tail"]), lock=_clause(LOCK, m["tail"]),
                      **common)
    if m := INSERT_SELECT.match(code):
        return Parsed(kind="insert_select", table=name(m["old"]), match=m,
                      extra={"new": name(m["new"]), "old": name(m["old"])}, **common)
    if m := UPDATE.match(code):
        return Parsed(kind="update", table=name(m["table"]), match=m, **common)
    if m := DROP_TABLE.match(code):
        return Parsed(kind="drop_table", table=name(m["table"]), match=m, **common)
    return Parsed(kind="other", **common)


class _Common(TypedDict):
    """What every parsed statement carries (typed, for ``Parsed(**common)``)."""

    statement: Statement
    code: str
    statement_vars: tuple[str, ...]
    is_ddl: bool
    locks: str | None


def builds_index(sql: str) -> bool:
    """True when ``sql`` builds an index (``CREATE INDEX`` or ``ALTER TABLE ... ADD INDEX``/
    ``UNIQUE``/``PRIMARY KEY``)."""
    for statement in split(sql):
        parsed = parse(statement)
        if parsed.kind == "create_index" or any(a.kind == "add_index" for a in parsed.actions):
            return True
    return False
