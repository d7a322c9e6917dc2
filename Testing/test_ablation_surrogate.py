"""The physics-trained surrogate network: honest card, verified weights through the model-loading library, and
agreement with the solver on held-out synthetic simulations generated here (seeds never used in training)."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("monai")

from AblationSimulatorLib.errors import AblationInputError  # noqa: E402
from AblationSimulatorLib.surrogate import (  # noqa: E402
    card_path,
    dice,
    predict_patch,
    predict_zone_network,
    simulate_case,
    synthetic_case,
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
    assert card.format == "state_dict" and card.network.name == "UNet"


def test_network_agrees_with_the_solver_on_held_out_simulations(tmp_path):
    """Three cases with seeds 200000+ (training used 0–499, fine-tuning 0–299, the card's evaluation 100000+): the
    network's
    zone (weights loaded and checksum-verified by the model-loading library) has Dice ≥ 0.8 with the solver's
    Ω ≥ 1 zone in each, and ≥ 0.85 on average."""
    scores = []
    for seed in (200_000, 200_001, 200_002):
        inputs, zone, _ = simulate_case(synthetic_case(seed))
        predicted = predict_patch(inputs, device="cpu", cache_dir=tmp_path)
        scores.append(dice(predicted, zone))
    assert min(scores) >= 0.8 and np.mean(scores) >= 0.85, scores


def test_network_against_the_1mm_solver_over_the_same_field_of_view(tmp_path):
    """The reference answer is the solver at 1 mm over the network's 72 mm field of view (the labels were computed
    at 1.5 mm): held-out seed 200004, the network's zone resampled onto the 1 mm grid has Dice ≥ 0.85 with the
    1 mm solver's zone (card: mean 0.91, min 0.86 over 16 cases; this case 0.86). Speed is measured in benchmarks/ablation.py."""
    from AblationSimulatorLib.surrogate import compare_with_fine_solver

    comparison = compare_with_fine_solver(200_004, cache_dir=tmp_path)
    print(comparison)
    assert comparison.dice_fine >= 0.85 and comparison.dice_coarse >= 0.85


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
    from the vessel segments) against the solver on a 1.5 mm grid: Dice ≥ 0.85 (measured 0.96 with v1.2.0)."""
    from AblationSimulatorLib.demo import demo_applicator
    from AblationSimulatorLib.pipeline import AblationRequest, plan_ablation

    monkeypatch.setenv("HCCAI_CACHE_DIR", str(tmp_path))
    ct, seg = small_patient.ct["portal venous"], small_patient.truth
    applicator = demo_applicator(ct, seg.mask("Tumor 1"), 12.0)
    request = AblationRequest("covidien-mwa", 75.0, 420.0, model="physics", grid_spacing_mm=1.5, device="cpu")
    solver = plan_ablation([applicator], request, ct=ct, segmentation=seg)
    network = plan_ablation([applicator], request.replace(model="network"), ct=ct, segmentation=seg)
    assert dice(network.network_zone, solver.physics_zone) >= 0.85
    assert "network" in network.margins and any("synthetic" in w for w in network.warnings)
