"""Show SQL readably in a notebook: one block per statement list, left-aligned, line breaks kept.

pandas shows a DataFrame of SQL strings right-aligned on one line with literal ``\\n``;
:func:`sql_table` shows the same frame as a table whose cells are ``<pre>`` blocks (HTML) and as
labelled SQL blocks (plain text), so what is shown is the SQL exactly as it runs.
"""

from __future__ import annotations

import html
from typing import Any

import pandas as pd

_CELL = ("text-align:left;white-space:pre-wrap;margin:0;font-size:12px;"
         "font-family:ui-monospace,Menlo,Consolas,monospace")


class SqlTable:
    """A table of SQL texts (rows and columns labelled), shown readably; ``frame`` is the data."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame

    def _repr_html_(self) -> str:
        head = "".join(f"<th style='text-align:left'>{html.escape(str(c))}</th>"
                       for c in self.frame.columns)
        rows = []
        for label, row in self.frame.iterrows():
            cells = "".join(
                f"<td style='text-align:left;vertical-align:top'><pre style='{_CELL}'>"
                f"{html.escape(str(v) if v else '-- nothing to run')}</pre></td>" for v in row)
            rows.append(f"<tr><th style='text-align:left;vertical-align:top'>"
                        f"{html.escape(str(label))}</th>{cells}</tr>")
        return (f"<table><thead><tr><th></th>{head}</tr></thead>"
                f"<tbody>{''.join(rows)}</tbody></table>")

    def __str__(self) -> str:
        blocks = []
        for label, row in self.frame.iterrows():
            for column, value in row.items():
                title = f"-- {label} · {column}" if len(self.frame.columns) > 1 else f"-- {label}"
                blocks.append(f"{title}\n{value or '-- nothing to run'}")
        return "\n\n".join(blocks)

    def __repr__(self) -> str:
        return str(self)

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:
        """IPython's plain-text view: the same text as ``str()``."""
        p.text(str(self))


def sql_table(frame: pd.DataFrame | pd.Series) -> SqlTable:
    """``frame`` (SQL strings; a Series becomes one column) as a readable :class:`SqlTable`."""
    if isinstance(frame, pd.Series):
        frame = frame.to_frame()
    return SqlTable(frame)
