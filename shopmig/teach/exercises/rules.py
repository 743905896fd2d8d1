"""Every database's rules, applied to an answer that ran on one of them.

An answer runs on one database (in-memory SQLite by default). SQLite stores what it is given:
a 7-letter default in a ``VARCHAR(4)``, ``DEFAULT pending`` without quotes, ``'2024-13-45'`` in
a timestamp. PostgreSQL and MariaDB refuse all three. So after the run, the table the answer
left is held to the rules of every database (:mod:`shopmig.dialects`, the "answer rules"
section of each class) and each finding names the databases that would refuse the answer and
the error they would give. When the answer ran on a server, that server's own rules were
enforced by the run itself.

The hint ladders here are shared with the explanations of server errors
(:mod:`~shopmig.teach.exercises.running`), so the same mistake gets the same hints whether
SQLite let it through or a server refused it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from shopmig.dialects import DIALECTS, Dialect
from shopmig.teach.exercises.feedback import Report, ladder

STRING_LENGTH = ladder(
    "SQLite does not check a VARCHAR's length; PostgreSQL and MariaDB refuse a value that does "
    "not fit it.",
    "Count the characters of the longest value the column must hold (every status the shop "
    "uses, not only the default) and give the column room for it.",
)
QUOTED_DEFAULT = ladder(
    "A server default given as raw SQL must be valid SQL on its own: to PostgreSQL and MariaDB "
    "an unquoted word is the name of a column.",
    "Either give the server default as a plain Python string (SQLAlchemy quotes it for you), "
    "or write a SQL string literal, single quotes included.",
)
DOUBLE_QUOTED_DEFAULT = ladder(
    "Look at the value the existing orders read: the quotes are part of it.",
    "A plain Python string given as the server default is quoted for you: quotes inside it "
    "become part of the value.",
)
VALID_DATETIME = ladder(
    "SQLite stores any text in a date/time column; PostgreSQL and MariaDB accept only real "
    "dates and times.",
    "Use a real timestamp: the database's clock, or a literal written YYYY-MM-DD HH:MM:SS "
    "with a month from 01 to 12 and a day that month has.",
)
ORDER_OF_STEPS = ladder(
    "A statement names something that is not there (yet, or any more).",
    "Check the spelling of each name, and whether an earlier step removed it or a later step "
    "creates it: the order of your steps matters.",
)
FLOAT_PRECISION = ladder(
    "Check the type exactly: the column must store numbers the way it did before, on every "
    "database.",
    "A plain FLOAT is single precision (about 7 digits) on MariaDB/MySQL; ask for a double "
    "precision type explicitly.",
)

_BARE_WORD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_QUOTED = re.compile(r"^'(?P<text>(?:[^']|'')*)'$", re.S)


def others(ran: Dialect) -> list[Dialect]:
    """Every database but the one the answer ran on (its rules were enforced by the run)."""
    return [cls() for cls in DIALECTS if not isinstance(ran, cls)]


def _labels(dialects: Iterable[Dialect]) -> str:
    names = [d.label for d in dialects]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _refusals(found: Sequence[tuple[Dialect, str]]) -> str:
    """``PostgreSQL (value too long ...) and MariaDB/MySQL ((1406) Data too long ...)``."""
    parts = [f"{d.label} ({error})" for d, error in found]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def default_text(column: dict[str, Any]) -> str | None:
    """The column's reflected server default as SQL text, None when it has none."""
    default = column.get("default")
    if default is None:
        return None
    text = str(default).strip()
    return None if text.upper() == "NULL" else text


def default_value(column: dict[str, Any]) -> str | None:
    """The text value a quoted server default gives (``'pending'`` -> ``pending``), None if
    the default is not a string literal."""
    text = default_text(column)
    if text is None:
        return None
    text = re.sub(r"::[\w\s]+(?:\(\d+\))?$", "", text)  # PostgreSQL: 'pending'::character varying
    match = _QUOTED.match(text)
    return match["text"].replace("''", "'") if match else None


def check_strings(report: Report, ran: Dialect, name: str, column: dict[str, Any],
                  values: Iterable[str], *, must_hold: Sequence[str] = ()) -> bool:
    """Hold ``column`` (reflected) and the ``values`` it holds to every database's VARCHAR
    length rule; ``must_hold`` are values the task says it must take. True when all fit."""
    type_ = column["type"]
    length = getattr(type_, "length", None)
    if not isinstance(type_, sa.String) or not length:
        return True
    default = default_value(column)
    candidates: list[tuple[str, bool]] = [(default, True)] if default is not None else []
    seen = {default}
    for value in [*values, *must_hold]:
        if value not in seen:
            seen.add(value)
            candidates.append((value, False))
    too_long = [(v, is_default) for v, is_default in candidates if len(v) > length]
    if not too_long:
        return True
    value, is_default = too_long[0]  # the default first: it is what ADD COLUMN is refused for
    found = [(d, error) for d in others(ran)
             if (error := d.string_too_long(name, length, value, default=is_default))]
    if not found:
        return True
    what = "its default" if is_default else ("a value it holds" if value not in must_hold
                                             else "a value it must hold")
    report.wrong(f"{name} is {type_} ({length} characters) but {what}, {value!r}, has "
                 f"{len(value)}: {_refusals(found)} would refuse it"
                 + ("" if ran.enforces_string_length
                    else f"; {ran.label} stored it only because it ignores VARCHAR lengths")
                 + ".", STRING_LENGTH)
    return False


def check_default(report: Report, ran: Dialect, name: str, column: dict[str, Any]) -> bool:
    """Hold the column's server default to every database's rule for unquoted words."""
    text = default_text(column)
    if text is None or not _BARE_WORD.match(text):
        return True
    found = [(d, error) for d in others(ran) if (error := d.bare_word_default(name, text))]
    if not found:
        return True
    report.wrong(f"{name} has DEFAULT {text} without quotes: {_refusals(found)} would refuse "
                 f"it (to them {text} names a column); {ran.label} took it as the text "
                 f"{text!r}.", QUOTED_DEFAULT)
    return False


def check_datetimes(report: Report, ran: Dialect, name: str, texts: Iterable[str]) -> bool:
    """Hold the values of a date/time column (as the database's text) to every database's
    rule; True when each is a real date/time."""
    for text in texts:
        found = [(d, error) for d in others(ran) if (error := d.invalid_datetime(name, text))]
        if found:
            report.wrong(f"{name} holds {text!r}, which is no date/time: {_refusals(found)} "
                         f"would refuse it; {ran.label} stored the text as it was.",
                         VALID_DATETIME)
            return False
    return True


def float_kinds(type_: sa.types.TypeEngine[Any]) -> dict[str, str | None]:
    """How each database stores a column declared ``type_``: label -> ``double``/``single``/
    None (not floating-point)."""
    return {cls.label: cls().float_kind(type_) for cls in DIALECTS}


def check_double(report: Report, name: str, type_: sa.types.TypeEngine[Any],
                 was: sa.types.TypeEngine[Any]) -> bool:
    """``type_`` must store numbers as ``was`` does on every database: a double-precision
    float. True when it does."""
    kinds = float_kinds(type_)
    if all(kind == "double" for kind in kinds.values()):
        same = "as before" if str(type_) == str(was) else f"as {was} was"
        report.right(f"{name} is {type_}, a double-precision float on every database, {same}.")
        return True
    if not any(kinds.values()):
        report.wrong(f"{name} is {type_}, not a floating-point type; it was {was}, a "
                     "double-precision float.", FLOAT_PRECISION)
        return False
    single = [label for label, kind in kinds.items() if kind != "double"]
    report.wrong(f"{name} is {type_}: {_labels_text(single)} would store it in single "
                 f"precision (about 7 digits), where it was {was}, a double.", FLOAT_PRECISION)
    return False


def _labels_text(labels: Sequence[str]) -> str:
    return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]


def truncating(ran: Dialect) -> list[Dialect]:
    """The databases (other than ``ran``) where ``integer / integer`` drops the fraction."""
    return [d for d in others(ran) if d.integer_division_truncates]


def labels(dialects: Iterable[Dialect]) -> str:
    """``PostgreSQL and MariaDB/MySQL``: databases named for a message."""
    return _labels(dialects)
