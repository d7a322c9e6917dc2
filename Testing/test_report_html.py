"""The HTML report: numbers rounded to significant figures, dose noise shown as 0, wide tables scroll.

Expected texts are worked out by hand from the rounding rule (4 significant figures, commas between thousands,
no trailing zeros, an exponent below 0.001), not taken from the code's output.
"""

from __future__ import annotations

import math
import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from HCCInterventionalAILib.report.html import DOSE_ZERO_GY, Report, format_number, round_significant


class _Tables(HTMLParser):
    """Each <table> of a page: its cells' text and the classes of the elements around it."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, dict[str, str]]] = []
        self.tables: list[dict] = []
        self.styles: list[str] = []
        self._in_style = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attributes = {k: v or "" for k, v in attrs}
        if tag == "table":
            self.tables.append({"parents": list(self.stack), "rows": []})
        elif tag == "tr" and self.tables:
            self.tables[-1]["rows"].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "style":
            self._in_style = True
        self.stack.append((tag, attributes))

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1]["rows"][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "style":
            self._in_style = False
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        if self._in_style:
            self.styles.append(data)


def _parse(page: str) -> _Tables:
    parser = _Tables()
    parser.feed(page)
    return parser


def test_round_significant_hand_values():
    """12345.67 → 12350 (4 s.f.), 0.0123456 → 0.0123 (3 s.f.), -987.66 → -987.7, 0 and NaN unchanged."""
    assert round_significant(12345.67) == 12350.0
    assert round_significant(0.0123456, 3) == pytest.approx(0.0123, abs=1e-15)
    assert round_significant(-987.66, 4) == pytest.approx(-987.7, abs=1e-9)
    assert round_significant(0.0) == 0.0 and math.isnan(round_significant(float("nan")))
    with pytest.raises(ValueError, match="digits"):
        round_significant(1.0, 0)


@pytest.mark.parametrize(("value", "kwargs", "text"), [
    (12345.67, {}, "12,350"),  # 4 s.f., thousands grouped
    (1234.5678, {}, "1,235"),
    (2.5, {}, "2.5"),  # no trailing zeros
    (120.0, {}, "120"),
    (0.0123456, {"digits": 3}, "0.0123"),
    (0.000123456, {}, "1.235e-04"),  # exponent below 0.001
    (np.float32(0.1), {}, "0.1"),  # float32 noise (0.100000001) is not shown
    (np.int64(123456), {}, "123,456"),  # integers are exact
    (3e-7, {"zero_below": 1e-6}, "0"),
    (-3e-7, {"zero_below": 1e-6}, "0"),  # no "-0"
    (3e-7, {}, "3e-07"),  # kept when not a dose
    (float("nan"), {}, "–"),
    (None, {}, "–"),
])
def test_format_number_hand_values(value, kwargs, text):
    assert format_number(value, **kwargs) == text


def test_wide_table_is_rounded_zeroed_and_scrolls(tmp_path):
    """A 25-column dose table: every number in the written page has at most 4 significant figures, doses below
    1e-6 Gy read 0 in dose columns only (the same value in a non-dose column keeps its exponent), and the table
    sits in a container whose CSS scrolls horizontally (overflow-x: auto) so the page keeps its width."""
    assert DOSE_ZERO_GY == 1e-6
    columns = {"structure": ["Liver", "Tumour 1"], "volume_ml": [1523.4567, 12.345678],
               "mean_Gy": [41.23456, 2.0e-7], "D70_Gy": [123.45678, -4.0e-9], "ratio": [3.0e-7, 0.5],
               "voxels": [123456, 7]}
    columns.update({f"V{dose}_%": [100.0 * dose / 1000.0 + 1 / 3, 12.3456789] for dose in range(10, 200, 10)})
    frame = pd.DataFrame(columns)
    assert len(frame.columns) == 25

    report = Report("Wide table")
    report.section("Doses").table(frame, "Dose metrics")
    page = report.write(tmp_path / "report.html").read_text(encoding="utf-8")
    parsed = _parse(page)

    assert len(parsed.tables) == 1
    table = parsed.tables[0]
    header, liver, tumour = table["rows"]
    assert header == list(frame.columns)
    row = dict(zip(header, liver, strict=True))
    assert row["volume_ml"] == "1,523" and row["mean_Gy"] == "41.23" and row["D70_Gy"] == "123.5"
    assert row["ratio"] == "3e-07" and row["voxels"] == "123,456" and row["V10_%"] == "1.333"
    row = dict(zip(header, tumour, strict=True))
    assert row["volume_ml"] == "12.35" and row["mean_Gy"] == "0" and row["D70_Gy"] == "0" and row["ratio"] == "0.5"
    for cells in table["rows"][1:]:  # at most 4 significant digits in every non-integer column
        for name, cell in zip(header[1:], cells[1:], strict=True):
            if name == "voxels":  # integers are shown exactly
                continue
            mantissa = cell.split("e")[0].replace(",", "").replace("-", "").replace(".", "").lstrip("0")
            assert len(mantissa.rstrip("0")) <= 4, cell

    tags = [tag for tag, _ in table["parents"]]
    assert "div" in tags, "the table must be inside a container"
    container = next(attrs for tag, attrs in reversed(table["parents"]) if tag == "div")
    classes = container.get("class", "").split()
    css = "".join(parsed.styles)
    scrolls = any(re.search(rf"\.{re.escape(c)}\s*\{{[^}}]*overflow-x\s*:\s*(auto|scroll)", css) for c in classes)
    assert scrolls or re.search(r"overflow-x\s*:\s*(auto|scroll)", container.get("style", "")), (classes, css)


def test_key_values_are_rounded():
    """The key/value table rounds numbers the same way (dose keys zeroed below 1e-6 Gy), text stays as is."""
    report = Report("Key values")
    report.section("Run").key_values({"lung_dose_Gy": 21.87654, "noise_Gy": 5e-8, "status": "ok 1.23456"})
    rows = _parse(report.to_html()).tables[0]["rows"]
    assert rows == [["lung_dose_Gy", "21.88"], ["noise_Gy", "0"], ["status", "ok 1.23456"]]
