"""A self-contained HTML report: sections of text, tables and figures (PNG embedded as base64)."""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Report", "Section"]

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;color:#222;padding:0 1em}
h1{border-bottom:3px solid #b5532f;padding-bottom:.3em} h2{color:#b5532f;margin-top:2em}
table{border-collapse:collapse;margin:1em 0;font-size:.9em} th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right}
th{background:#f3ebe7} td:first-child,th:first-child{text-align:left}
figure{margin:1em 0} figcaption{font-size:.85em;color:#555} img{max-width:100%;border:1px solid #ddd}
.banner{background:#fff4d6;border:1px solid #e0b84a;padding:.6em 1em;border-radius:4px}
.warn{color:#9a3b00} .skip{color:#777} .meta{font-size:.8em;color:#666}
"""


@dataclass
class Section:
    """One capability's part of the report."""

    title: str
    blocks: list[str] = field(default_factory=list)

    def text(self, text: str) -> Section:
        self.blocks.append(f"<p>{html.escape(text)}</p>")
        return self

    def warning(self, text: str) -> Section:
        self.blocks.append(f'<p class="warn">⚠ {html.escape(text)}</p>')
        return self

    def table(self, frame: Any, caption: str = "", float_format: str = "{:.4g}") -> Section:
        """Add a pandas DataFrame (or anything with ``to_html``)."""
        table = frame.to_html(index=False, border=0, float_format=lambda v: float_format.format(v), na_rep="–")
        if caption:
            table = f"<p><b>{html.escape(caption)}</b></p>" + table
        self.blocks.append(table)
        return self

    def figure(self, fig: Any, caption: str = "", dpi: int = 110) -> Section:
        """Embed a matplotlib figure as PNG and close it."""
        import matplotlib.pyplot as plt

        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
        plt.close(fig)
        return self.image(buffer.getvalue(), caption)

    def image(self, png: bytes, caption: str = "") -> Section:
        data = base64.b64encode(png).decode("ascii")
        self.blocks.append(
            f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>"
        )
        return self

    def key_values(self, values: dict[str, Any]) -> Section:
        rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>" for k, v in values.items())
        self.blocks.append(f"<table>{rows}</table>")
        return self


@dataclass
class Report:
    """An HTML report built section by section."""

    title: str
    banner: str = ""
    sections: list[Section] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)

    def section(self, title: str) -> Section:
        section = Section(title)
        self.sections.append(section)
        return section

    def to_html(self) -> str:
        created = _dt.datetime.now().isoformat(timespec="seconds")
        parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(self.title)}</title>",
                 f"<style>{_STYLE}</style></head><body><h1>{html.escape(self.title)}</h1>"]
        if self.banner:
            parts.append(f'<p class="banner">{html.escape(self.banner)}</p>')
        if len(self.sections) > 1:
            parts.append("<ol>" + "".join(f'<li><a href="#s{i}">{html.escape(s.title)}</a></li>'
                                          for i, s in enumerate(self.sections)) + "</ol>")
        for index, section in enumerate(self.sections):
            parts.append(f'<h2 id="s{index}">{html.escape(section.title)}</h2>')
            parts.extend(section.blocks)
        meta = ", ".join(f"{k}: {v}" for k, v in self.metadata.items())
        parts.append(f'<p class="meta">Created {created}. {html.escape(meta)}</p></body></html>')
        return "\n".join(parts)

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_html(), encoding="utf-8")
        return path
