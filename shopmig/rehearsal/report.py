"""Render a :class:`~shopmig.rehearsal.run.Rehearsal` as one self-contained HTML file.

The write-latency plot is drawn with matplotlib and embedded as a PNG (base64), so the report
opens offline from a single file.
"""

from __future__ import annotations

import base64
import html
import io
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.axes import Axes

    from shopmig.rehearsal.run import Rehearsal

STYLE = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#1f2328}
h1{font-size:1.4em} h2{font-size:1.15em;margin-top:1.6em}
table{border-collapse:collapse;font-size:.9em} td,th{border:1px solid #d0d7de;padding:3px 8px}
th{background:#f6f8fa} .ok{color:#1a7f37;font-weight:bold} .bad{color:#cf222e;font-weight:bold}
pre{background:#f6f8fa;padding:.6em;overflow-x:auto;font-size:.85em}
"""


def plot_latency(rehearsal: Rehearsal, ax: Axes | None = None) -> Axes:
    """Write latency over time with each step's start and end marked (failed writes in red)."""
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(10, 3.2))
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
    ax.set_title(rehearsal.summary(), fontsize=9)
    ax.legend(fontsize=8, loc="upper right")
    return ax


def _png(rehearsal: Rehearsal) -> str:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    ax = plot_latency(rehearsal)
    buf = io.BytesIO()
    ax.figure.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(ax.figure)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _table(rows: list[dict[str, Any]] | pd.DataFrame, max_rows: int = 50) -> str:
    frame = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(rows)
    if frame.empty:
        return "<p>(none)</p>"
    return frame.to_html(index=False, max_rows=max_rows, border=0)


def rehearsal_html(rehearsal: Rehearsal, *, standalone: bool = True) -> str:
    """The report as HTML: a full page (``standalone``) or a fragment for a notebook."""
    r = rehearsal
    cls = "ok" if r.ok else "bad"
    parts = [f"<h1>shopmig rehearsal: {html.escape(r.copy)}</h1>",
             f"<p class='{cls}'>{html.escape(r.summary())}</p>",
             "<h2>Summary</h2>",
             _table([{"source": r.source, "copy": r.copy, "dialect": r.dialect,
                      "from": r.start_revision, "to": r.end_revision,
                      "committed writes": r.committed_writes, "lost writes": r.lost_writes,
                      "failed writes": r.failed_writes,
                      "unexplained differences": r.unexplained_differences,
                      "round trip ok": r.roundtrip_ok,
                      "status values dropped by the downgrade": r.status_values_dropped}])]
    if r.failure:
        parts.append(f"<p class='bad'>{html.escape(r.failure)}</p>")
    parts += ["<h2>Write latency during the rehearsal</h2>",
              f"<img alt='write latency' src='data:image/png;base64,{_png(r)}'>",
              "<h2>Steps</h2>",
              _table([{k: v for k, v in s.to_dict().items() if k != "sql"} for s in r.steps])]
    for s in r.steps:
        parts.append(f"<h3>{html.escape(s.revision)}: {html.escape(s.summary)}</h3>"
                     f"<pre>{html.escape(s.sql or '-- nothing to run on this database')}</pre>")
    if r.backup:
        parts += ["<h2>Backup</h2>",
                  f"<p>{html.escape(str(r.backup.get('path')))} "
                  f"({html.escape(str(r.backup.get('method')))})</p>",
                  f"<p>Restore with:</p><pre>{html.escape(str(r.backup.get('restore_command')))}"
                  "</pre>"]
    for title, result in (("Verification after the steps", r.verification),
                          ("Verification after the round trip", r.roundtrip_verification)):
        if result is not None:
            parts += [f"<h2>{title}</h2>", result._repr_html_()]
    if r.notes:
        parts += ["<h2>Notes</h2><ul>"] + [f"<li>{html.escape(n)}</li>" for n in r.notes] + [
            "</ul>"]
    body = "\n".join(parts)
    if not standalone:
        return body
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>shopmig rehearsal"
            f"</title><style>{STYLE}</style></head><body>{body}</body></html>")
