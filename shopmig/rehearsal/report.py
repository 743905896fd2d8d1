"""Render a :class:`~shopmig.rehearsal.run.Rehearsal` as one self-contained HTML file.

One truth: the page says what :meth:`Rehearsal.to_dict` says. Its first line is the headline
(``REHEARSAL OK`` in green, or ``REHEARSAL FAILED`` in red with the reason); the differences
between the copy and its baseline are split into those the workload's own committed writes
explain (shown as expected, never in red) and those nothing explains (red, and they make the
rehearsal fail). Every time is in milliseconds; a value that does not apply says so in words
(never ``None`` or ``NaN``). Tables wrap instead of running off the page, from a phone to a
wide screen. The write-latency plot is drawn with matplotlib and embedded as a PNG, so the
report opens offline from a single file.
"""

from __future__ import annotations

import base64
import html
import io
import math
import os
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

    from shopmig.rehearsal.run import Rehearsal, RehearsedStep
    from shopmig.verification.api import VerifyResult

STYLE = """
{R} *{box-sizing:border-box}
{R}{font:15px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1f2328}
{R} h1{font-size:1.25em;margin:.2em 0 .4em} {R} h2{font-size:1.1em;margin-top:1.6em}
{R} h3{font-size:1em;margin:1.2em 0 .3em}
{R} table{border-collapse:collapse;font-size:.88em;width:100%;margin:.4em 0}
{R} td,{R} th{border:1px solid #d0d7de;padding:3px 6px;text-align:left;vertical-align:top;
  overflow-wrap:break-word}
{R} th{background:#f6f8fa} {R} td.num{text-align:right}
{R} table.kv{width:auto;max-width:100%} {R} table.kv th{width:16em}
{R} .ok{color:#1a7f37} {R} .bad{color:#cf222e} {R} .warn{color:#9a6700}
{R} .meta{color:#57606a;margin:0}
{R} section.bad{border-left:4px solid #cf222e;padding-left:.6em}
{R} section.warn{border-left:4px solid #bf8700;padding-left:.6em}
{R} pre{background:#f6f8fa;padding:.6em;font-size:.85em;white-space:pre-wrap;
  overflow-wrap:anywhere}
{R} img{max-width:100%;height:auto}
@media (max-width:900px){{R}{font-size:14px} {R} td,{R} th{padding:2px 3px;
  overflow-wrap:anywhere} {R} table.kv th{width:auto}}
"""
PAGE_STYLE = "body{max-width:1100px;margin:1.5em auto;padding:0 1em}"


def style(root: str) -> str:
    """The report's CSS with every rule under ``root`` (``body`` for the page, a class for
    the fragment a notebook shows, so the notebook's own page keeps its style)."""
    return STYLE.replace("{R}", root)


NOT_RECORDED = "not recorded"
NOT_APPLICABLE = "\u2013"  # an en dash: "does not apply"
SAMPLE_ROWS = 20


# ------------------------------------------------------------------ the plot


def plot_latency(rehearsal: Rehearsal, ax: Axes | None = None) -> Axes:
    """Write latency (ms) over time with each step's window shaded (failed writes in red).

    The legend sits below the plot, so it never hides a point."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(10, 3.4))
    ev = rehearsal.events
    if len(ev):
        ok = ev[ev["ok"]]
        bad = ev[~ev["ok"]]
        ax.plot(ok["started_s"], ok["latency_s"] * 1000, ".", ms=3, color="#0969da",
                label="committed write")
        if len(bad):
            ax.plot(bad["started_s"], bad["latency_s"] * 1000, "x", ms=5, color="#cf222e",
                    label="failed write")
    for i, step in enumerate(rehearsal.steps):
        colour = "#bf8700" if step.ok else "#cf222e"
        ax.axvspan(step.started_s, step.started_s + max(step.seconds, 1e-3), color=colour,
                   alpha=0.25, label="step running" if i == 0 else None)
        ax.text(step.started_s, 1.0, step.revision.split("_", 1)[0], fontsize=7, rotation=90,
                va="top", transform=ax.get_xaxis_transform())
    ax.set_xlabel("seconds since the workload started")
    ax.set_ylabel("write latency (ms)")
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set_title(rehearsal.summary(), fontsize=9, wrap=True)
    handles, _labels = ax.get_legend_handles_labels()
    if handles:
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.22),
                  ncol=len(handles), frameon=False)
    return ax


def _png(rehearsal: Rehearsal) -> str:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 3.4))
    plot_latency(rehearsal, ax=ax)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


# ------------------------------------------------------------------ one truth: the data checks


def _events(frame: pd.DataFrame) -> list[Any]:
    from shopmig.rehearsal.workload import WriteEvent

    fields = list(WriteEvent.__dataclass_fields__)
    return [WriteEvent(**{k: row[k] for k in fields}) for row in frame.to_dict("records")]


def _same(a: Any, b: Any) -> bool:
    if _missing(a) or _missing(b):
        return _missing(a) and _missing(b)
    try:
        return round(float(a), 6) == round(float(b), 6)
    except (TypeError, ValueError):
        return str(a) == str(b)


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _norm_key(value: Any) -> tuple[str, ...]:
    from shopmig.rehearsal.workload import key_of

    return tuple(str(part) for part in key_of(value))


def classify_differences(result: VerifyResult, events: pd.DataFrame) -> pd.DataFrame:
    """Every difference of ``result`` (:attr:`VerifyResult.differences`) with ``explained``
    (True when the workload's own committed writes account for it) and ``why``.

    The same rule the rehearsal counts ``unexplained_differences`` by: a row the workload
    inserted, or a value in a row a committed write touched, is explained (a write whose value
    is not there is counted as *lost* instead); a row that existed before and is gone, or a
    change in a row no committed write touched, is not.
    """
    from shopmig.rehearsal.workload import expected_state

    diffs = result.differences.copy()
    wanted = {_norm_key(k): v for k, v in (expected_state(_events(events)) if len(events)
                                           else {}).items()}
    explained, why = [], []
    for row in diffs.to_dict("records"):
        state = wanted.get(_norm_key(row["key"]))
        kind, column = row["kind"], row["column"]
        if kind == "missing":
            ok, reason = False, "a row that existed before is gone"
        elif kind == "unexpected":
            ok = bool(state and state.get("__inserted__"))
            reason = "inserted by the workload" if ok else "a row nobody inserted"
        elif kind == "expectation":
            ok = state is not None and column in state
            reason = (f"{column} set by the workload" if ok else
                      f"{column} not at its default, and no write set it")
        else:
            ok = state is not None
            reason = (f"{column} written by the workload" if ok else
                      f"{column} changed in a row no write touched")
        explained.append(ok)
        why.append(reason)
    return diffs.assign(explained=explained, why=why)


def verification_dict(result: VerifyResult | None, events: pd.DataFrame,
                      ok: bool | None) -> dict[str, Any] | None:
    """A verification as JSON that agrees with the rehearsal's headline: ``ok`` is the
    rehearsal's own verdict on it (only differences the workload does not explain count),
    ``identical`` whether the copy equals its baseline at all, ``explained_by_workload`` and
    ``unexplained`` the two kinds of differences, ``why`` in words."""
    if result is None:
        return None
    data = result.to_dict()
    identical = data.pop("ok")
    classified = classify_differences(result, events)
    explained = int(classified["explained"].sum())
    unexplained = int((~classified["explained"]).sum())
    if identical:
        why = "the copy equals its baseline"
    elif not unexplained:
        why = (f"the copy differs from its baseline only by the workload's own committed "
               f"writes ({explained} difference(s), all explained)")
    else:
        why = (f"{unexplained} difference(s) no committed write of the workload explains"
               + (f" (and {explained} that the workload's writes do)" if explained else ""))
    return {"ok": ok, "identical": identical, "explained_by_workload": explained,
            "unexplained": unexplained, "why": why, **data}


def failed_write_errors(events: pd.DataFrame) -> list[dict[str, Any]]:
    """The failed writes of a workload log grouped by error text (most frequent first):
    ``error``, ``kind`` (``lock``: gave up waiting behind the migration; ``workload``: the
    table refused the write; ``unknown`` when the log does not say), ``count``, ``first_s``,
    ``last_s``."""
    if events.empty or "ok" not in events:
        return []
    failed = events[~events["ok"].astype(bool)]
    if failed.empty:
        return []
    kinds = (failed["error_kind"].fillna("unknown") if "error_kind" in failed
             else pd.Series("unknown", index=failed.index))
    text = failed["error"].fillna("no error text recorded")
    frame = failed.assign(error=text, kind=kinds)
    out = [{"error": str(error), "kind": str(kind), "count": len(group),
            "first_s": round(float(group["started_s"].min()), 3),
            "last_s": round(float(group["started_s"].max()), 3)}
           for (error, kind), group in frame.groupby(["error", "kind"], sort=False)]
    return sorted(out, key=lambda g: (-g["count"], g["first_s"]))


# ------------------------------------------------------------------ formatting


def _e(value: Any) -> str:
    return html.escape(str(value))


def _ms(seconds: Any) -> str:
    if _missing(seconds):
        return NOT_APPLICABLE
    return f"{float(seconds) * 1000:,.0f}"


def _yes_no(value: Any) -> str:
    return {True: "yes", False: "no"}.get(value, NOT_APPLICABLE)


def _cell(value: Any) -> str:
    if _missing(value):
        return NOT_APPLICABLE
    if isinstance(value, bool):
        return _yes_no(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.6g}"
    return str(value)


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]],
           numeric: Sequence[int] = ()) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = "".join(
            f"<td class='num'>{_e(_cell(v))}</td>" if i in numeric else f"<td>{_e(_cell(v))}</td>"
            for i, v in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _kv(pairs: Iterable[tuple[str, Any]]) -> str:
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(_cell(v))}</td></tr>" for k, v in pairs)
    return f"<table class='kv'><tbody>{rows}</tbody></table>"


def _relative(text: str) -> str:
    """Paths under the current folder shown relative to it (as the CLI prints them)."""
    here = os.getcwd().rstrip(os.sep) + os.sep
    return text.replace(here, "")


def _options(rehearsal: Rehearsal) -> list[tuple[str, Any]]:
    o = rehearsal.options or {}

    def get(key: str, fmt: Any = str) -> str:
        return fmt(o[key]) if key in o and o[key] is not None else NOT_RECORDED

    rate = (f"{rehearsal.rows_per_sec:g} writes/s" if rehearsal.rows_per_sec is not None
            else NOT_RECORDED)
    limit = (f"{rehearsal.duration_s:g} s at most" if rehearsal.duration_s is not None
             else NOT_RECORDED)
    return [
        ("workload rate", rate),
        ("workload duration limit", limit),
        ("lock timeout per DDL statement", get("lock_timeout_s", lambda v: f"{v * 1000:,.0f} ms")),
        ("statement timeout", get("statement_timeout_s", lambda v: f"{v * 1000:,.0f} ms")),
        ("retries after a lock timeout", get("retries")),
        ("backoff between retries", get("backoff_s", lambda v: f"{v * 1000:,.0f} ms, doubling")),
        ("table rewrites allowed", get("allow_table_rewrite", _yes_no)),
        ("row limit for a rewrite", get("rewrite_row_limit", lambda v: f"{v:,} rows")),
    ]


STEP_HEADER = ["step", "what it does", "lock", "rewrites table", "time (ms)", "attempts",
               "writes", "failed writes", "longest stall (ms)", "p50 (ms)", "p99 (ms)",
               "check after it"]


def _step_rows(steps: Sequence[RehearsedStep]) -> list[list[Any]]:
    rows = []
    for s in steps:
        check = {True: "ok", False: "FAILED", None: "checked at the end" if s.ok else
                 "not run (step failed)"}[s.verify_ok]
        what = s.summary + ("" if s.ok else f" (failed: {s.error or 'no error text'})")
        rows.append([f"{s.revision} {'↓' if s.direction == 'down' else '↑'}", what, s.lock,
                     _yes_no(s.rewrites_table), _ms(s.seconds), s.attempts, s.writes,
                     s.failed_writes, _ms(s.max_write_stall_s), _ms(s.p50_write_latency_s),
                     _ms(s.p99_write_latency_s), check])
    return rows


def _differences_html(title: str, result: VerifyResult | None, events: pd.DataFrame,
                      ok: bool | None) -> list[str]:
    if result is None:
        return [f"<h3>{_e(title)}</h3><p>Not run.</p>"]
    classified = classify_differences(result, events)
    explained = classified[classified["explained"]]
    unexplained = classified[~classified["explained"]]
    counts = result.counts
    parts = [f"<h3>{_e(title)}</h3>",
             f"<p>{counts['rows_before']:,} rows in the baseline, {counts['rows_after']:,} in "
             f"the copy; columns compared: {_e(', '.join(result.columns_compared) or 'none')}"
             + (f"; added: {_e(', '.join(result.columns_added))}" if result.columns_added
                else "") + ".</p>"]
    if explained.empty and unexplained.empty:
        parts.append("<p class='ok'>The copy equals its baseline.</p>")
    if not explained.empty:
        by = explained.groupby("why").size()
        parts.append("<p>Changes made by the workload itself (expected): "
                     + ", ".join(f"{n:,} {_e(w)}" for w, n in by.items()) + ".</p>")
        parts.append(_table(["key", "kind", "column", "before", "after", "why"],
                            explained[["key", "kind", "column", "before", "after", "why"]]
                            .head(SAMPLE_ROWS).itertuples(index=False)))
        if len(explained) > SAMPLE_ROWS:
            parts.append(f"<p class='meta'>The first {SAMPLE_ROWS} of {len(explained):,}.</p>")
    if not unexplained.empty:
        parts.append(f"<section class='bad'><p class='bad'><b>{len(unexplained):,} "
                     "difference(s) nothing explains</b>: the migration changed or lost "
                     "data.</p>")
        parts.append(_table(["key", "kind", "column", "before", "after", "why"],
                            unexplained[["key", "kind", "column", "before", "after", "why"]]
                            .head(SAMPLE_ROWS).itertuples(index=False)))
        parts.append("</section>")
    elif ok is False:
        parts.append("<p class='bad'>The check failed (see the headline).</p>")
    return parts


# ------------------------------------------------------------------ the page


def rehearsal_html(rehearsal: Rehearsal, *, standalone: bool = True) -> str:
    """The report as HTML: a full page (``standalone``) or a fragment for a notebook."""
    r = rehearsal
    cls = "ok" if r.ok else "bad"
    started = r.started_at or r.created_at
    parts = [
        f"<h1 class='{cls}'>{_e(r.summary())}</h1>",
        f"<p class='meta'>{_e(started)} · shopmig {_e(r.shopmig_version)} · "
        f"{_e(r.server_version or r.dialect)} · table {_e(r.table)} · copy "
        f"{_e(_relative(r.copy))} of {_e(_relative(r.source))}</p>",
    ]
    if not r.ok:
        parts.append("<section class='bad'><h2>Why it failed</h2><ul>"
                     + "".join(f"<li>{_e(_relative(x))}</li>" for x in r.reasons())
                     + "</ul></section>")
    parts += [
        "<h2>Summary</h2>",
        _kv([("revisions", f"{r.start_revision or 'untracked'} → {r.end_revision or 'untracked'}"),
             ("committed writes", f"{r.committed_writes:,}"),
             ("lost writes", f"{r.lost_writes:,}"),
             ("failed writes", f"{r.failed_writes:,}"),
             ("differences the workload does not explain", f"{r.unexplained_differences:,}"),
             ("workload errors (writes the table refused)", f"{r.workload_errors:,}"),
             ("round trip", {True: "every row back exactly", False: "data NOT back",
                             None: "not run"}[r.roundtrip_ok]),
             ("status values dropped by the round trip's downgrade",
              f"{r.status_values_dropped:,}")]),
        "<h2>Settings</h2>",
        _kv(_options(r)),
        "<h2>Write latency during the rehearsal</h2>",
        f"<img alt='write latency' src='data:image/png;base64,{_png(r)}'>",
        "<h2>Steps</h2>",
        _table(STEP_HEADER, _step_rows(r.steps), numeric=(4, 5, 6, 7, 8, 9, 10)),
    ]
    for s in r.steps:
        parts.append(f"<h3>{_e(s.revision)}: {_e(s.summary)}</h3>"
                     f"<pre>{_e(s.sql or '-- nothing to run on this database')}</pre>")
    parts.append("<h2>Round trip</h2>")
    if r.roundtrip_steps:
        parts.append(_table(STEP_HEADER, _step_rows(r.roundtrip_steps),
                            numeric=(4, 5, 6, 7, 8, 9, 10)))
    elif r.roundtrip_ok is None:
        parts.append("<p>Not run.</p>")
    else:
        parts.append(f"<p>Down to {_e(r.start_revision or 'the baseline')} and up to "
                     f"{_e(r.end_revision or 'head')} again, without the workload; the steps "
                     "of the round trip were not timed by this run.</p>")
    errors = failed_write_errors(r.events)
    if errors:
        sev = "bad" if not r.ok else "warn"
        parts += [f"<section class='{sev}'><h2>Failed writes</h2>",
                  f"<p>{r.failed_writes:,} of the workload's writes failed; the shop would have "
                  "seen these errors:</p>",
                  _table(["error", "kind", "count", "first (s)", "last (s)"],
                         [[g["error"], g["kind"], g["count"], g["first_s"], g["last_s"]]
                          for g in errors], numeric=(2, 3, 4)),
                  "</section>"]
    parts.append("<h2>Data checks</h2>")
    parts += _differences_html("After the steps", r.verification, r.events,
                               r.lost_writes == 0 and r.unexplained_differences == 0)
    parts += _differences_html("After the round trip", r.roundtrip_verification, r.events,
                               r.roundtrip_ok)
    if r.backup:
        parts += ["<h2>Backup</h2>",
                  f"<p>{_e(_relative(str(r.backup.get('path'))))} "
                  f"({_e(r.backup.get('method'))})</p>",
                  f"<p>Restore with:</p><pre>"
                  f"{_e(_relative(str(r.backup.get('restore_command'))))}</pre>"]
    notes = [*r.notes, *(f"left: {x}" for x in r.left)]
    if notes:
        parts += ["<h2>Notes</h2><ul>"] + [f"<li>{_e(_relative(n))}</li>" for n in notes] + [
            "</ul>"]
    body = "\n".join(parts)
    if not standalone:
        return (f"<div class='shopmig-rehearsal'><style>{style('.shopmig-rehearsal')}</style>"
                f"{body}</div>")
    return ("<!doctype html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<title>shopmig rehearsal</title><style>{style('body')}{PAGE_STYLE}</style>"
            f"</head><body>{body}</body></html>")
