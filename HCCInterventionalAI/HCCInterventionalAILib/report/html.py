"""A self-contained HTML report: sections of text, tables and figures (PNG embedded as base64).

Numbers in tables are rounded to a few significant figures (:func:`format_number`); dose values whose magnitude is
below :data:`DOSE_ZERO_GY` are shown as 0 (numerical noise of the FFT convolution far from the activity, not a
dose). Tables sit in a horizontally scrolling container so a wide table never widens the page.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import math
import numbers
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["DOSE_ZERO_GY", "Report", "Section", "format_number", "round_nested", "round_significant"]

#: Doses whose magnitude is below this (Gy) are shown as 0 in tables.
DOSE_ZERO_GY = 1e-6
#: A column holds doses when its name carries the unit Gy ("mean_Gy", "Dose (Gy)", "D70_Gy").
_DOSE_COLUMN = re.compile(r"(?<![A-Za-z])Gy(?![A-Za-z])")

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:1100px;margin:2em auto;color:#222;padding:0 1em}
h1{border-bottom:3px solid #b5532f;padding-bottom:.3em} h2{color:#b5532f;margin-top:2em}
table{border-collapse:collapse;margin:1em 0;font-size:.9em} th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right}
th{background:#f3ebe7} td:first-child,th:first-child{text-align:left}
figure{margin:1em 0} figcaption{font-size:.85em;color:#555} img{max-width:100%;border:1px solid #ddd}
.banner{background:#fff4d6;border:1px solid #e0b84a;padding:.6em 1em;border-radius:4px}
.table-scroll{overflow-x:auto;max-width:100%} .table-scroll table{margin:.5em 0}
.warn{color:#9a3b00} .skip{color:#777} .meta{font-size:.8em;color:#666}
"""


def round_significant(value: float, digits: int = 4) -> float:
    """``value`` rounded to ``digits`` significant figures (0, NaN and infinities unchanged).

    Args:
        value: the number.
        digits: significant figures kept (at least 1).

    Returns:
        The rounded number, e.g. ``round_significant(0.0123456, 3) == 0.0123``.
    """
    if digits < 1:
        raise ValueError(f"digits must be at least 1, got {digits}")
    value = float(value)
    if value == 0.0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


def round_nested(value: Any, digits: int = 4) -> Any:
    """Every float in a nested structure (dicts, lists, NumPy scalars) rounded as the report shows it; NaN and
    infinities become None (JSON has neither), NumPy integers become ints."""
    if isinstance(value, dict):
        return {key: round_nested(item, digits) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [round_nested(item, digits) for item in value]
    if isinstance(value, bool):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return round_significant(float(value), digits) if math.isfinite(value) else None
    return value


def format_number(value: Any, digits: int = 4, zero_below: float | None = None) -> str:
    """A number as a table shows it: ``digits`` significant figures, no exponent between 0.001 and 10^15.

    Thousands are grouped with commas; trailing zeros after the decimal point are dropped (1.500 → "1.5");
    magnitudes below 0.001 use an exponent ("1.235e-04", "3e-07"). NaN/None show as "–", infinities as "∞"/"−∞".

    Args:
        value: a number (int, float, NumPy scalar) or None.
        digits: significant figures for non-integers.
        zero_below: magnitudes below this show as "0" (e.g. :data:`DOSE_ZERO_GY` for doses); None keeps them.

    Returns:
        The text, e.g. ``format_number(12345.67) == "12,350"``, ``format_number(3e-7, zero_below=1e-6) == "0"``.
    """
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value)
    number = float(value)
    if math.isnan(number):
        return "–"
    if math.isinf(number):
        return "∞" if number > 0 else "−∞"
    if number == 0.0 or (zero_below is not None and abs(number) < zero_below):
        return "0"
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    rounded = round_significant(number, digits)
    magnitude = math.floor(math.log10(abs(rounded)))
    if magnitude < -3 or magnitude >= 15:
        mantissa, exponent = f"{rounded:.{digits - 1}e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{exponent}"
    decimals = max(0, digits - 1 - magnitude)
    text = f"{rounded:,.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def _formatted(frame: Any, digits: int, zero_below: float | None) -> Any:
    """A copy of ``frame`` with every numeric cell as its display text (dose columns zeroed below ``zero_below``)."""
    def cell(value: Any, zero: float | None) -> Any:
        if isinstance(value, numbers.Real) and not isinstance(value, bool):
            return format_number(value, digits, zero)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "–"
        return value

    out = frame.copy()
    for column in out.columns:
        zero = zero_below if _DOSE_COLUMN.search(str(column)) else None
        out[column] = [cell(v, zero) for v in out[column].tolist()]
    return out


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

    def table(self, frame: Any, caption: str = "", digits: int = 4, zero_below: float | None = DOSE_ZERO_GY) -> Section:
        """Add a pandas DataFrame, numbers rounded (:func:`format_number`), in a horizontally scrolling container.

        Args:
            frame: the table (its index is not shown).
            caption: shown in bold above the table.
            digits: significant figures of non-integer numbers.
            zero_below: in dose columns (name carries the unit Gy), magnitudes below this show as 0.

        Returns:
            This section (for chaining).
        """
        table = _formatted(frame, digits, zero_below).to_html(index=False, border=0, na_rep="–")
        if caption:
            self.blocks.append(f"<p><b>{html.escape(caption)}</b></p>")
        self.blocks.append(f'<div class="table-scroll">{table}</div>')
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

    def key_values(self, values: dict[str, Any], digits: int = 4) -> Section:
        """Add a two-column table of names and values (numbers rounded as in :meth:`table`)."""

        def shown(key: str, value: Any) -> str:
            if isinstance(value, numbers.Real) and not isinstance(value, bool):
                zero = DOSE_ZERO_GY if _DOSE_COLUMN.search(str(key)) else None
                return format_number(value, digits, zero)
            return str(value)

        rows = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(shown(k, v))}</td></tr>"
                       for k, v in values.items())
        self.blocks.append(f'<div class="table-scroll"><table>{rows}</table></div>')
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
