"""The segmentation runner: reorientation, post-processing and the whole card-driven pipeline.

The pipeline tests use a TorchScript network that thresholds its (normalised) input at 0.5, so the
expected labels follow from the synthetic phantom's geometry alone.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from optional_deps import require_torch
from test_models_support import LABELS, card_dict, file_entry, write_card

torch, _ = require_torch()

from HCCInterventionalAILib.imaging.orientation import orientation_codes, plan_reorientation  # noqa: E402
from HCCInterventionalAILib.imaging.volume import Geometry, Volume  # noqa: E402
from HCCInterventionalAILib.models import clear_model_cache, load_card, segment_volume  # noqa: E402
from HCCInterventionalAILib.models.card import OutputLabel, OutputSpec  # noqa: E402
from HCCInterventionalAILib.models.postprocessing import keep_largest_component, labels_from_output  # noqa: E402
from HCCInterventionalAILib.progress import Cancelled, CancelToken, Progress  # noqa: E402

# A direction whose i, j, k axes point to S, L, P (columns are the LPS unit vectors).
PERMUTED = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])


# -- orientation ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("direction", "codes"), [
    (np.eye(3), "LPS"), (np.diag([-1.0, -1.0, 1.0]), "RAS"), (PERMUTED, "SLP"), (-PERMUTED, "IRA"),
])
def test_orientation_codes(direction, codes):
    assert orientation_codes(direction) == codes


def test_lps_to_ras_ijk_by_hand():
    array = np.arange(2 * 3 * 4).reshape(2, 3, 4)  # (k, j, i)
    plan = plan_reorientation(np.eye(3), "RAS", "ijk")
    expected = array.transpose(2, 1, 0)[::-1, ::-1, :]  # to (i, j, k), then flip i (L→R) and j (P→A)
    np.testing.assert_array_equal(plan.to_network(array), expected)


def test_reorientation_matches_the_imaging_library_and_round_trips():
    from HCCInterventionalAILib.imaging.resample import reorient

    rng = np.random.default_rng(0)
    volume = Volume(rng.normal(size=(3, 4, 5)), Geometry((3, 4, 5), (0.5, 0.7, 1.1), (1, 2, 3), -PERMUTED))
    for letters in itertools.permutations("LPS"):
        for signs in itertools.product((0, 1), repeat=3):
            target = "".join({"L": "LR", "P": "PA", "S": "SI"}[c][s] for c, s in zip(letters, signs, strict=True))
            plan = plan_reorientation(volume.direction, target, "kji")
            reference = reorient(volume, target)
            np.testing.assert_array_equal(plan.to_network(volume.array), reference.array)
            assert plan.source_spacing(reference.spacing) == pytest.approx(volume.spacing)
            stacked = np.stack([volume.array, -volume.array])  # leading channel axis
            ijk_plan = plan_reorientation(volume.direction, target, "ijk")
            np.testing.assert_array_equal(ijk_plan.from_network(ijk_plan.to_network(stacked)), stacked)


# -- post-processing ------------------------------------------------------------------------------------

def test_softmax_labels_with_channel_mapping_and_probabilities():
    logits = torch.tensor([[0.0, 3.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 2.0]]).T.reshape(1, 3, 3, 1, 1)
    spec = OutputSpec((OutputLabel(0, "background", 0), OutputLabel(7, "liver", 2), OutputLabel(300, "tumor", 1)))
    labels, probabilities = labels_from_output(logits, spec)
    # voxel 0: channels (0, 3, 0) → channel 1 → 300; voxel 1: (1, 0, 0) → 0; voxel 2: (0, 0, 2) → channel 2 → 7
    np.testing.assert_array_equal(labels.ravel(), [300, 0, 7])
    assert labels.dtype == np.uint16
    np.testing.assert_allclose(probabilities.sum(axis=0), 1.0, rtol=1e-6)
    np.testing.assert_allclose(probabilities[:, 1, 0, 0], np.exp([1, 0, 0]) / np.exp([1, 0, 0]).sum(), rtol=1e-6)


def test_argmax_labels_equal_torch_argmax_including_ties():
    logits = torch.randn(1, 4, 6, 7, 8, generator=torch.Generator().manual_seed(2))
    logits[0, 2] = logits[0, 1]  # exact ties: the first channel wins, as in torch.argmax
    spec = OutputSpec(tuple(OutputLabel(3 * c, f"class {c}", c) for c in range(4)))
    labels, _ = labels_from_output(logits, spec, probabilities=False)
    np.testing.assert_array_equal(labels, 3 * logits[0].argmax(dim=0).numpy())


def test_sigmoid_labels_later_wins():
    logits = torch.tensor([[2.0, 2.0, -2.0], [-2.0, 2.0, -2.0]]).reshape(1, 2, 3, 1, 1)
    spec = OutputSpec((OutputLabel(1, "liver", 0), OutputLabel(2, "tumor", 1)), activation="sigmoid")
    labels, _ = labels_from_output(logits, spec)
    np.testing.assert_array_equal(labels.ravel(), [1, 2, 0])


def test_largest_component_per_label():
    labels = np.zeros((10, 10, 10), dtype=np.uint8)
    labels[0:3, 0:3, 0:3] = 1  # 27 voxels
    labels[3, 3, 3] = 1  # touches the big cube at a corner only: 26-connected, so kept
    labels[7:9, 7:9, 7:9] = 1  # 8 voxels, separate: removed
    labels[0:2, 7:9, 0:2] = 2  # label 2 is not cleaned
    labels[8, 0, 8] = 2
    expected = labels.copy()
    expected[7:9, 7:9, 7:9] = 0
    keep_largest_component(labels, [1])
    np.testing.assert_array_equal(labels, expected)
    keep_largest_component(labels, [2])
    assert labels[8, 0, 8] == 0 and np.count_nonzero(labels == 2) == 8


# -- the pipeline ---------------------------------------------------------------------------------------

class _Threshold(torch.nn.Module):
    """Class 1 where the input exceeds 0.5, class 0 elsewhere (a pointwise, orientation-free network)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([0.5 - x, x - 0.5], dim=1) * 10.0


def _spheres(shape=(40, 48, 44)):
    """A big (r=8) and a small (r=3) sphere of 100 HU off-centre in 0 HU; returns image and big-sphere mask."""
    k, j, i = np.indices(shape)
    big = (k - 20) ** 2 + (j - 18) ** 2 + (i - 14) ** 2 <= 8**2
    small = (k - 9) ** 2 + (j - 38) ** 2 + (i - 33) ** 2 <= 3**2
    return (100.0 * (big | small)).astype(np.float32), big


@pytest.fixture(scope="module")
def threshold_model(tmp_path_factory):
    folder = tmp_path_factory.mktemp("threshold")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.script(_Threshold()).save(str(folder / "threshold.ts"))
    return folder / "threshold.ts"


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_model_cache()
    yield
    clear_model_cache()


def _card(tmp_path, model_path, **input_changes):
    inputs = {"modality": "CT", "intensity": {"window": [0, 100], "normalisation": "range"}, "patch_size": [16, 16, 16]}
    inputs.update(input_changes)
    output = {"activation": "softmax", "labels": LABELS[:2], "largest_component": [1]}
    data = card_dict([file_entry(model_path)], id="threshold", format="torchscript", network=None, input=inputs,
                     output=output)
    return load_card(write_card(tmp_path / "cards", data))


def test_pipeline_labels_the_big_sphere_only(tmp_path, threshold_model):
    image, big = _spheres()
    volume = Volume(image, Geometry(image.shape, (0.8, 0.8, 1.5), (10.0, -5.0, 3.0)), name="CT", modality="CT")
    fractions: list[float] = []
    result = segment_volume(_card(tmp_path, threshold_model), volume, lambda f, m: fractions.append(f),
                            device="cpu", cache_dir=tmp_path / "cache")
    assert result.labels.geometry == volume.geometry
    np.testing.assert_array_equal(result.labels.array, big.astype(np.uint8))
    assert result.probabilities.shape == (2, *image.shape)
    np.testing.assert_allclose(result.probabilities.sum(axis=0), 1.0, rtol=1e-5)
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert set(result.timings) == {"load", "preprocess", "inference", "postprocess"}
    assert result.provenance["model_id"] == "threshold"
    segmentation = result.to_segmentation()
    assert segmentation.names == ["liver"]
    assert segmentation.segments["liver"].terminology.type.value == "10200004"
    assert segmentation.volume_ml("liver") == pytest.approx(big.sum() * 0.8 * 0.8 * 1.5 / 1000)


def test_pipeline_maps_labels_back_through_the_network_orientation(tmp_path, threshold_model):
    image, big = _spheres()
    volume = Volume(image, Geometry(image.shape, (1.0, 1.0, 1.0), (0, 0, 0), PERMUTED))
    card = _card(tmp_path, threshold_model, orientation="RAS", axis_order="ijk")
    result = segment_volume(card, volume, device="cpu", cache_dir=tmp_path / "cache", probabilities=False)
    np.testing.assert_array_equal(result.labels.array, big.astype(np.uint8))
    assert result.probabilities is None


def test_pipeline_resamples_to_the_card_spacing_and_back(tmp_path, threshold_model):
    image, big = _spheres()
    volume = Volume(image, Geometry(image.shape, (1.0, 1.0, 1.0)))
    result = segment_volume(_card(tmp_path, threshold_model, spacing=[2.0, 2.0, 2.0]), volume, device="cpu",
                            cache_dir=tmp_path / "cache")
    assert result.labels.geometry == volume.geometry
    assert result.probability_geometry.spacing == (2.0, 2.0, 2.0)
    assert result.probabilities.shape == (2, 20, 24, 22)
    found = result.labels.array == 1
    dice = 2 * np.count_nonzero(found & big) / (found.sum() + big.sum())
    assert dice > 0.9  # a 2-mm grid loses at most about a voxel at the surface of an 8-mm sphere
    assert not found[:, 30:, 25:].any()  # the small sphere was removed
    assert result.probability_volume(1).geometry == volume.geometry


def test_pipeline_checks_inputs(tmp_path, threshold_model):
    image, _ = _spheres()
    volume = Volume(image, Geometry(image.shape))
    card = _card(tmp_path, threshold_model)
    with pytest.raises(ValueError, match="expects 1 input volume"):
        segment_volume(card, [volume, volume], device="cpu", cache_dir=tmp_path / "cache")
    classifier = load_card(write_card(tmp_path / "other", card_dict(
        [file_entry(threshold_model)], id="classifier", task="classification", format="torchscript", network=None,
        output=None)))
    with pytest.raises(ValueError, match="not a segmentation model"):
        segment_volume(classifier, volume, device="cpu", cache_dir=tmp_path / "cache")
    image[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        segment_volume(card, Volume(image, Geometry(image.shape)), device="cpu", cache_dir=tmp_path / "cache")


def test_pipeline_can_be_cancelled(tmp_path, threshold_model):
    image, _ = _spheres()
    token = CancelToken()

    def cancel_during_inference(fraction: float, message: str) -> None:
        if message.startswith("Inference: window"):
            token.cancel()

    with pytest.raises(Cancelled):
        segment_volume(_card(tmp_path, threshold_model), Volume(image, Geometry(image.shape)),
                       Progress(cancel_during_inference, token), device="cpu", cache_dir=tmp_path / "cache")
