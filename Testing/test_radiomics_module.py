"""The HCCRadiomics Slicer module's logic, headless on a real MRML scene (Testing/slicer_stubs.py)."""

from __future__ import annotations

import pytest

pytest.importorskip("radiomics")

PARAMS = "setting:\n  binWidth: 25\n  label: 1\nimageType:\n  Original: {}\nfeatureClass:\n  firstorder: [Mean]\n"


@pytest.fixture
def radiomics_module(headless, hcc):
    return headless.load("HCCRadiomics")


def test_extract_lesions_and_rings_into_a_new_table(radiomics_module, sample, headless, tmp_path):
    """Small SYNTHETIC patient, portal venous CT: the tumours wash out (80 HU) against the liver (110 HU), so each
    lesion's mean is below that of its 5-10 mm ring; 2 lesions × (tumour + 2 rings) = 6 rows."""
    from HCCInterventionalAILib.progress import Cancelled, CancelToken
    from HCCInterventionalAILib.scene import table_node_to_dataframe

    params = tmp_path / "params.yaml"
    params.write_text(PARAMS, encoding="utf-8")
    logic = radiomics_module.HCCRadiomicsLogic()
    ct = sample["ct"]["portal venous"]
    count = headless.scene.GetNumberOfNodes()
    table = logic.extract(ct, sample["segmentation"], preset=str(params), show=False)
    assert headless.scene.GetNumberOfNodes() == count + 1
    frame = table_node_to_dataframe(table).set_index(["lesion", "region"])
    assert len(frame) == 6
    for lesion in ("lesion 1", "lesion 2"):
        tumour = float(frame.loc[(lesion, "tumour"), "original_firstorder_Mean"])
        ring = float(frame.loc[(lesion, "ring 5-10 mm"), "original_firstorder_Mean"])
        assert tumour < ring - 10.0
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        logic.extract(ct, sample["segmentation"], preset=str(params), cancelToken=token, show=False)
    with pytest.raises(ValueError, match="Select a segmentation"):
        logic.extract(ct, None)
