"""The HCCInterventionalAI module segments with the liver-classical card (no PyTorch, no weights), headless on a
real MRML scene: a NEW editable segmentation node with Liver and Tumour on the input's grid."""

from __future__ import annotations

import pytest
from test_module_logic_headless import _segment_mask

pytest.importorskip("monai")


def test_module_segments_with_the_classical_card(hcc, headless, sample):
    """SYNTHETIC small patient, portal venous CT: liver (Liver ∪ Tumour segments) Dice ≥ 0.93 against the ground
    truth read back from its node (measured 0.958, as through the CLI); the input node is not modified."""
    from HCCInterventionalAILib.segmentation.metrics import overlap_metrics

    logic = hcc.HCCInterventionalAILogic()
    assert "liver-classical" in [card.id for card in logic.segmentationModels()]
    assert "non-learning" in logic.describeModel("liver-classical")
    ct = sample["ct"]["portal venous"]
    seen = []
    node = logic.segment(ct, "liver-classical", progressCallback=lambda f, m: seen.append(f), show=False)
    assert node.GetName() == f"{ct.GetName()} liver-classical segmentation"
    segmentation = node.GetSegmentation()
    names = [segmentation.GetNthSegment(i).GetName() for i in range(segmentation.GetNumberOfSegments())]
    assert names == ["Liver", "Tumour"]
    liver = _segment_mask(node, "Liver", ct) | _segment_mask(node, "Tumour", ct)
    truth = _segment_mask(sample["segmentation"], "Liver", ct)
    assert overlap_metrics(liver, truth, ct.GetSpacing()).dice >= 0.93
    assert seen and seen[-1] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="needs 3 input volumes|input volumes"):
        logic.segment([ct] * 4, "liver-classical")
