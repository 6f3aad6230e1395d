"""Single-file HTML reports with embedded figures.

A :class:`Report` collects headings, paragraphs, tables (DataFrames or results
with ``tidy()``) and matplotlib figures, and writes one self-contained HTML file
(figures are embedded as base64 PNG, so the file can be e-mailed or archived).

Examples
--------
>>> import pandas as pd
>>> from causalpa.report import Report
>>> r = Report("Pilot analysis")
>>> r.heading("Cohort")
>>> r.text("38 patients (synthetic).")
>>> r.table(pd.DataFrame({"arm": ["PA", "control"], "n": [16, 22]}))
>>> html = r.to_html()
>>> "<h2>Cohort</h2>" in html and "<table" in html
True
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = ["Report"]

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:62rem;margin:2rem auto;
padding:0 1rem;color:#1b1b1b;line-height:1.45}
h1{border-bottom:2px solid #3f51b5;padding-bottom:.3rem}
h2{margin-top:2rem;color:#303f9f}
table{border-collapse:collapse;margin:.8rem 0;font-size:.92rem}
th,td{border:1px solid #ccc;padding:.25rem .6rem;text-align:right}
th{background:#eef}
td:first-child,th:first-child{text-align:left}
.note{background:#fff8e1;border-left:4px solid #ffb300;padding:.5rem .8rem;margin:.8rem 0}
figure{margin:1rem 0}
figcaption{font-size:.9rem;color:#555}
pre{background:#f6f6f6;padding:.6rem;overflow-x:auto;white-space:pre-wrap}
"""


@dataclass
class Report:
    """An HTML report built block by block.

    Parameters
    ----------
    title : str
        Title shown at the top of the page and in the browser tab.
    """

    title: str
    _blocks: list[str] = field(default_factory=list, repr=False)

    def heading(self, text: str, level: int = 2) -> None:
        """Add a section heading (``level`` 2 to 4)."""
        level = min(max(level, 2), 4)
        self._blocks.append(f"<h{level}>{html.escape(text)}</h{level}>")

    def text(self, text: str) -> None:
        """Add a paragraph of plain text (escaped)."""
        self._blocks.append(f"<p>{html.escape(text)}</p>")

    def note(self, text: str) -> None:
        """Add a highlighted caveat (e.g. synthetic data, small-sample inference)."""
        self._blocks.append(f'<div class="note">{html.escape(text)}</div>')

    def code(self, text: str) -> None:
        """Add preformatted text, such as a ``summary()``."""
        self._blocks.append(f"<pre>{html.escape(text)}</pre>")

    def table(self, table: Any, digits: int = 3, index: bool = False) -> None:
        """Add a table: a DataFrame, or a result (shown as its text view shows it)."""
        from causalpa.results import Result

        if isinstance(table, Result):
            frame = table._display(table.tidy())
        else:
            frame = table.tidy() if hasattr(table, "tidy") else pd.DataFrame(table)
        self._blocks.append(frame.to_html(index=index, float_format=lambda v: f"{v:.{digits}f}",
                                          border=0, na_rep=""))

    def figure(self, fig: Any, caption: str = "") -> None:
        """Embed a matplotlib figure as a base64 PNG and close it."""
        import matplotlib.pyplot as plt

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
        plt.close(fig)
        data = base64.b64encode(buf.getvalue()).decode("ascii")
        cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
        self._blocks.append(f'<figure><img alt="{html.escape(caption)}" '
                            f'src="data:image/png;base64,{data}">{cap}</figure>')

    def to_html(self) -> str:
        """Return the complete HTML document."""
        body = "\n".join(self._blocks)
        return (
            "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            f"<title>{html.escape(self.title)}</title><style>{_CSS}</style></head>"
            f"<body><h1>{html.escape(self.title)}</h1>\n{body}\n</body></html>"
        )

    def write(self, path: str | Path) -> Path:
        """Write the report to ``path`` and return the path."""
        path = Path(path)
        path.write_text(self.to_html(), encoding="utf-8")
        return path
