"""Where the tests find the real reference data: ``../shared/data`` beside the checkout (read in place, never
copied into the project), or the folder named by ``HCCAI_SHARED_DATA``. Tests skip with a reason when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("HCCAI_SHARED_DATA", ROOT.parent / "shared" / "data"))
TARANIS = DATA / "y90" / "taranis-sample"
DCMQI = DATA / "dicom" / "dcmqi-liver"
SVALUES = DATA / "y90" / "voxel-s-values"
IBSI_PHANTOM = DATA / "radiomics" / "ibsi-digital-phantom"
