"""Results in the browser without Slicer: ``hccai view <output folder | scene.mrb>``.

:mod:`.data` finds what a folder or scene bundle holds (volumes, dose, segmentation, tables, DVH) with the
project's readers; :mod:`.render` builds the VTK scenes (three slice views with segment outlines and the dose
overlay with its colour bar, and a 3D view of the segment surfaces); :mod:`.app` lays them out in a trame
page served on localhost with the DVH and the result tables; :mod:`.cli` registers the ``view`` command.
trame and VTK are imported only inside functions (install them with ``pip install hcc-interventional-ai[viewer]``).
"""

from __future__ import annotations

from .data import ViewerData, ViewerInputError, gather

__all__ = ["ViewerData", "ViewerInputError", "gather"]
