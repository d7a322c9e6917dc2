"""The DVH figure: each curve in its segment's colour (as Slicer draws DVHs), the legend off the curves.

The reference colours are the ones set on the segments by the test (and Slicer's liver colour from the
terminology, RGB 221/130/101 ÷ 255, for a segment created without a colour), not read back from the code.
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from matplotlib.colors import to_rgb  # noqa: E402

from HCCInterventionalAILib.imaging.segmentation import Segmentation  # noqa: E402
from HCCInterventionalAILib.imaging.volume import Geometry, Volume  # noqa: E402
from Y90DosimetryLib import Y90InputError  # noqa: E402
from Y90DosimetryLib.dvh import dvh_figure, dvh_table  # noqa: E402

TUMOUR_RGB = (0.9, 0.1, 0.1)
LUNG_RGB = (0.2, 0.4, 0.8)
#: Slicer's default liver colour (SNOMED CT 10200004 in the anatomic terminology), 221/130/101 out of 255.
SLICER_LIVER_RGB = (221 / 255, 130 / 255, 101 / 255)


@pytest.fixture(scope="module")
def case():
    """A 20×20×20 grid: a dose ramp 0–95 Gy along i; liver = the left half, tumour = a cube inside it, lung the
    right quarter, so the three DVHs differ and span the whole axis."""
    geometry = Geometry((20, 20, 20), (2.0, 2.0, 2.0), (0.0, 0.0, 0.0))
    dose = Volume(np.broadcast_to(np.arange(20, dtype=float) * 5.0, (20, 20, 20)).copy(), geometry, units="Gy")
    liver = np.zeros(geometry.shape, bool)
    liver[:, :, :10] = True
    tumour = np.zeros(geometry.shape, bool)
    tumour[5:10, 5:10, 5:10] = True
    tumour2 = np.zeros(geometry.shape, bool)
    tumour2[12:16, 12:16, 0:4] = True
    lung = np.zeros(geometry.shape, bool)
    lung[:, :, 15:] = True
    seg = Segmentation(geometry)
    seg.add("Liver", liver)  # no colour given: the terminology's (Slicer's) liver colour
    seg.add("Tumour 1", tumour, color=TUMOUR_RGB)
    seg.add("Tumour 2", tumour2, color=TUMOUR_RGB)  # same colour, as two lesions of one terminology in Slicer
    seg.add("Lung", lung, color=LUNG_RGB)
    table = dvh_table(dose, {"Liver": liver, "Tumour 1": tumour, "Tumour 2": tumour2, "Lung": lung,
                               "normal liver": liver & ~tumour & ~tumour2})
    return seg, table


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def _lines(fig):
    (ax,) = fig.axes
    return ax, {line.get_label(): line for line in ax.get_lines()}


def test_curves_take_the_segment_colours(case):
    """Segment curves are drawn in the segments' colours; the derived 'normal liver' (no segment) is dashed in a
    colour that is none of the segments'; two segments of one colour keep it and differ by line style."""
    seg, table = case
    fig = dvh_figure(table, ["Liver", "normal liver", "Tumour 1", "Tumour 2", "Lung"], colors=seg)
    _, lines = _lines(fig)
    assert list(lines) == ["Liver", "normal liver", "Tumour 1", "Tumour 2", "Lung"]
    np.testing.assert_allclose(to_rgb(lines["Tumour 2"].get_color()), TUMOUR_RGB, atol=1e-9)
    assert lines["Tumour 2"].get_linestyle() not in ("-", "--")
    np.testing.assert_allclose(to_rgb(lines["Liver"].get_color()), SLICER_LIVER_RGB, atol=0.02)
    np.testing.assert_allclose(to_rgb(lines["Tumour 1"].get_color()), TUMOUR_RGB, atol=1e-9)
    np.testing.assert_allclose(to_rgb(lines["Lung"].get_color()), LUNG_RGB, atol=1e-9)
    derived = to_rgb(lines["normal liver"].get_color())
    assert all(np.abs(np.subtract(derived, c)).max() > 0.05 for c in (SLICER_LIVER_RGB, TUMOUR_RGB, LUNG_RGB))
    assert lines["normal liver"].get_linestyle() == "--" and lines["Tumour 1"].get_linestyle() == "-"


def test_a_name_to_rgb_mapping_works_like_the_segmentation(case):
    _, table = case
    fig = dvh_figure(table, ["Tumour 1", "Lung"], colors={"Tumour 1": TUMOUR_RGB, "Lung": LUNG_RGB})
    _, lines = _lines(fig)
    assert to_rgb(lines["Tumour 1"].get_color()) == pytest.approx(TUMOUR_RGB)
    assert to_rgb(lines["Lung"].get_color()) == pytest.approx(LUNG_RGB)


def test_legend_does_not_cover_the_curves(case):
    """After drawing, the legend's box (display pixels) does not intersect the axes' plotting area, where all
    data points lie, and lies inside the figure (so a saved picture shows it)."""
    seg, table = case
    fig = dvh_figure(table, colors=seg)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax, lines = _lines(fig)
    legends = fig.legends + ([ax.get_legend()] if ax.get_legend() else [])
    assert len(legends) == 1
    box = legends[0].get_window_extent(renderer)
    area = ax.get_window_extent(renderer)
    assert not box.overlaps(area), (box, area)
    for line in lines.values():  # and no data point is under it
        points = ax.transData.transform(line.get_xydata())
        inside = ((points[:, 0] >= box.x0) & (points[:, 0] <= box.x1)
                  & (points[:, 1] >= box.y0) & (points[:, 1] <= box.y1))
        assert not inside.any(), line.get_label()
    whole = fig.bbox
    assert whole.x0 <= box.x0 and box.x1 <= whole.x1 and whole.y0 <= box.y0 and box.y1 <= whole.y1


def test_bad_input_is_refused_clearly(case):
    _, table = case
    with pytest.raises(Y90InputError, match="None of the structures"):
        dvh_figure(table, ["Spleen"])
    with pytest.raises(Y90InputError, match="RGB"):
        dvh_figure(table, ["Lung"], colors={"Lung": (255, 0, 0)})
    with pytest.raises(Y90InputError, match="column"):
        dvh_figure(table.drop(columns="volume_%"))
