"""The physics-trained surrogate network: honest card, verified weights through the model-loading library, and
agreement with the solver on held-out synthetic simulations generated here (seeds never used in training)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("monai")

from AblationSimulatorLib.errors import AblationInputError  # noqa: E402
from AblationSimulatorLib.surrogate import (  # noqa: E402
    NETWORK_ARGS,
    card_path,
    dice,
    fine_geometry,
    narrow_state_dict,
    patch_geometry,
    predict_logits,
    predict_patch,
    predict_zone_network,
    simulate_case,
    synthetic_case,
    zone_on_fine,
)


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_card_says_exactly_what_the_model_is():
    from HCCInterventionalAILib.models import load_card

    card = load_card(card_path())
    assert card.research_only and card.training.trained_by_project
    assert "SYNTHETIC" in card.training.data and "No patient" in card.training.data
    assert "synthetic" in card.validation_status.lower()
    assert card.format == "onnx" and card.network.name == "UNet" and card.network.args == NETWORK_ARGS
    assert [f.filename for f in card.files] == ["ablation-zone-surrogate.onnx", "ablation-zone-surrogate.pt"]


def test_onnx_runtime_and_pytorch_run_the_same_network(tmp_path):
    """The shipped ONNX graph is an export of the shipped state dict: on held-out seed 200001 ONNX Runtime's logit
    difference matches PyTorch's (the MONAI U-Net built from the card's ``network`` with the .pt weights, both files
    SHA-256-verified by the model-loading library) within 1e-3 and the zones agree to Dice ≥ 0.999."""
    pytest.importorskip("onnxruntime")
    case = synthetic_case(200_001)
    inputs, _, _ = simulate_case(case)
    onnx = predict_logits(inputs, device="cpu", cache_dir=tmp_path, backend="onnx")
    pt = predict_logits(inputs, device="cpu", cache_dir=tmp_path, backend="torch")
    assert np.abs(onnx - pt).max() < 1e-3
    assert dice(onnx > 0, pt > 0) >= 0.999
    with pytest.raises(AblationInputError, match="backend"):
        predict_logits(inputs, backend="tensorrt")


def test_backend_choice(monkeypatch):
    """"auto" runs ONNX Runtime on the CPU when it is installed, PyTorch otherwise or on a GPU, and PyTorch for a card
    without an ONNX file (e.g. a state-dict card written by ``main`` before the export)."""
    import sys
    from dataclasses import replace

    from AblationSimulatorLib.surrogate import _backend
    from HCCInterventionalAILib.models import load_card

    card = load_card(card_path())
    pytest.importorskip("onnxruntime")
    assert _backend("auto", "cpu", card) == "onnx"
    assert _backend("auto", "cpu", replace(card, format="state_dict")) == "torch"
    assert _backend("torch", "cpu", card) == "torch"
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails
    assert _backend("auto", "cpu", card) == "torch"


@pytest.mark.parametrize("shift_mm, columns", [(0.0, 33), (-0.3, 32)])
def test_zone_on_fine_interpolates_the_logits_exactly_for_a_linear_field(shift_mm, columns):
    """Trilinear interpolation reproduces a linear function exactly: logits d = x − 3.3 mm (LPS x) on the 48³ patch of
    1.5 mm (centres x = −35.25 … 35.25 mm) give on a 72³ grid of 1 mm exactly the voxels with x > 3.3 mm; clamping
    at the patch faces keeps the sign. Unshifted grid (x = −35.5 … 35.5, ONNX Runtime's Resize path): x = 3.5 … 35.5,
    33 columns; grid shifted by −0.3 mm in x (x = −35.8 … 35.2, the NumPy path): x = 3.7 … 35.2, 32 columns;
    count = columns·72·72."""
    from HCCInterventionalAILib.imaging import Geometry

    coarse, fine = patch_geometry(np.zeros(3)), fine_geometry()
    fine = Geometry(fine.shape, fine.spacing, (fine.origin[0] + shift_mm, *fine.origin[1:]))
    x = coarse.origin[0] + coarse.spacing[0] * np.arange(48)
    logits = np.broadcast_to(x - 3.3, (48, 48, 48)).astype(np.float32)
    zone = zone_on_fine(logits, coarse, fine)
    assert zone.shape == (72, 72, 72) and int(zone.sum()) == columns * 72 * 72
    xf = fine.origin[0] + np.arange(72)
    assert np.array_equal(zone[5, 7], (xf > 3.3).astype(np.uint8))


def test_narrowed_weights_keep_the_leading_channels_of_each_skip_part():
    """Narrowing [8, 16, 32, 64] → [4, 8, 16, 32] (residual units kept): an ordinary convolution keeps output channels
    0–3 and input channels 0–3; the outermost transposed convolution reads the concatenation [8 skip channels,
    8 deeper channels] and must keep input rows 0–3 and 8–11 (hand-derived from MONAI's SkipConnection,
    torch.cat([x, sub(x)])). Without residual units (the shipped network) the same rows move to the layers' main
    convolutions and the residual branches are dropped."""
    from monai.networks.nets import UNet

    wide = UNet(**dict(NETWORK_ARGS, channels=[8, 16, 32, 64], num_res_units=1)).state_dict()
    narrow_args = dict(NETWORK_ARGS, channels=[4, 8, 16, 32], num_res_units=1)
    narrowed = narrow_state_dict(wide, narrow_args)
    UNet(**narrow_args).load_state_dict(narrowed)  # strict: every shape fits
    key = "model.2.0.conv.weight"  # ConvTranspose3d (in = 16 → 8, out = 2)
    assert torch.equal(narrowed[key], wide[key][[0, 1, 2, 3, 8, 9, 10, 11]])
    key = "model.1.submodule.1.submodule.2.0.conv.weight"  # in = 32 skip + 64 deeper → 16 + 32
    assert torch.equal(narrowed[key], wide[key][list(range(16)) + list(range(32, 64)), :8])
    assert torch.equal(narrowed["model.0.conv.unit0.conv.weight"], wide["model.0.conv.unit0.conv.weight"][:4])
    plain_args = dict(NETWORK_ARGS, channels=[4, 8, 16, 32], num_res_units=0)
    plain = narrow_state_dict(wide, plain_args)
    UNet(**plain_args).load_state_dict(plain)
    assert torch.equal(plain["model.2.conv.weight"], wide["model.2.0.conv.weight"][[0, 1, 2, 3, 8, 9, 10, 11]])
    assert torch.equal(plain["model.1.submodule.1.submodule.2.conv.weight"],
                       wide["model.1.submodule.1.submodule.2.0.conv.weight"][list(range(16)) + list(range(32, 64)), :8])
    assert not any(".residual." in k for k in plain)


def test_network_agrees_with_the_solver_on_held_out_simulations(tmp_path):
    """Three cases with seeds 200000+ (training used 0–499, fine-tuning 0–299, the card's evaluation 100000+): the
    network's
    zone (weights loaded and checksum-verified by the model-loading library) has Dice ≥ 0.8 with the solver's
    Ω ≥ 1 zone in each, and ≥ 0.85 on average (v1.3.0: 0.956, 0.840, 0.912)."""
    scores = []
    for seed in (200_000, 200_001, 200_002):
        inputs, zone, _ = simulate_case(synthetic_case(seed))
        predicted = predict_patch(inputs, device="cpu", cache_dir=tmp_path)
        scores.append(dice(predicted, zone))
    assert min(scores) >= 0.8 and np.mean(scores) >= 0.85, scores


def test_network_against_the_1mm_solver_over_the_same_field_of_view(tmp_path):
    """The reference answer is the solver at 1 mm over the network's 72 mm field of view (the labels were computed
    at 1.5 mm): held-out seed 200004, the network's zone on the 1 mm grid (its logit difference interpolated there)
    has Dice ≥ 0.9 with the 1 mm solver's zone, the issue's target (v1.3.0: this case 0.948; card: mean 0.943, min 0.762 over 16 cases
    with seeds 100000+), and ≥ 0.85 on the 1.5 mm grid (0.948). Speed is measured in benchmarks/ablation.py."""
    from AblationSimulatorLib.surrogate import compare_with_fine_solver

    comparison = compare_with_fine_solver(200_004, cache_dir=tmp_path)
    print(comparison)
    assert comparison.dice_fine >= 0.9 and comparison.dice_coarse >= 0.85


def test_network_zone_on_a_ct_grid_and_training_range(tmp_path):
    """On a CT grid (1 mm, different from the network's 1.5 mm patch) the network zone has the solver's volume
    within 25 % (synthetic case without vessel; the solver on its own 1.5 mm patch is the reference)."""
    from AblationSimulatorLib.pipeline import AblationRequest
    from HCCInterventionalAILib.imaging import Geometry, Volume

    case = synthetic_case(200_003)
    case.vessels[:] = False
    _, zone, _ = simulate_case(case)
    rng = np.random.default_rng(1)
    ct = Volume((100.0 + rng.normal(0, 15, (90, 90, 90))).astype(np.float32),  # covers the 72 mm patch
                Geometry((90, 90, 90), (1.0,) * 3, (-45.0,) * 3), modality="CT")
    request = AblationRequest(case.device, case.power_w, case.time_s, model="network", device="cpu")
    network = predict_zone_network(ct, [case.applicator], request, device="cpu", cache_dir=tmp_path)
    solver_ml = zone.sum() * 1.5**3 / 1000
    assert network.sum() / 1000 == pytest.approx(solver_ml, rel=0.25)
    with pytest.raises(AblationInputError, match="trained on"):
        outside = request.replace(ablation_device="amica-probe", power_w=80.0, time_s=300.0)  # in the chart only
        predict_zone_network(ct, [case.applicator], outside, device="cpu")


def test_network_through_the_pipeline_agrees_with_the_solver_on_the_sample_patient(small_patient, monkeypatch,
                                                                                   tmp_path):
    """Small synthetic patient, Covidien 75 W / 420 s through Tumor 1: the pipeline's network zone (CT channel rendered
    from the vessel segments) against the solver on a 1.5 mm grid: Dice ≥ 0.85 (measured 0.967 with v1.3.0)."""
    from AblationSimulatorLib.demo import demo_applicator
    from AblationSimulatorLib.pipeline import AblationRequest, plan_ablation

    monkeypatch.setenv("HCCAI_CACHE_DIR", str(tmp_path))
    ct, seg = small_patient.ct["portal venous"], small_patient.truth
    applicator = demo_applicator(ct, seg.mask("Tumor 1"), 12.0)
    request = AblationRequest("covidien-mwa", 75.0, 420.0, model="physics", grid_spacing_mm=1.5, device="cpu")
    solver = plan_ablation([applicator], request, ct=ct, segmentation=seg)
    network = plan_ablation([applicator], request.replace(model="network"), ct=ct, segmentation=seg)
    score = dice(network.network_zone, solver.physics_zone)
    print(f"sample patient: network vs solver Dice {score:.3f}")
    assert score >= 0.85
    assert "network" in network.margins and any("synthetic" in w for w in network.warnings)
