"""MAA → Y-90 translation: evaluation maths against hand calculations, training, and loading through model cards."""

from __future__ import annotations

import numpy as np
import pytest
from optional_deps import require_torch

from HCCInterventionalAILib.imaging.segmentation import Segmentation
from HCCInterventionalAILib.imaging.volume import Volume

torch, _ = require_torch()

from Y90DosimetryLib.maa_to_y90 import (  # noqa: E402
    PairedCase,
    TrainingConfig,
    compartment_masks,
    evaluate_translation,
    predict_y90_distribution,
    save_trained_model,
    simulate_paired_case,
    structure_mean_doses,
    train_translation,
)

K = 49.67  # Gy·kg/GBq, the conventional Y-90 dose constant (AAPM Report 144)


def _two_compartment_case(t_to_n: float) -> tuple[Volume, Segmentation]:
    """A 20×20×20 grid of 4 mm voxels (0.064 ml): liver = the whole grid, tumour = an 8×8×8 cube inside it."""
    shape = (20, 20, 20)
    activity = np.ones(shape, dtype=np.float32)
    tumour = np.zeros(shape, dtype=bool)
    tumour[6:14, 6:14, 6:14] = True
    activity[tumour] = t_to_n
    volume = Volume.from_array(activity, spacing=(4.0, 4.0, 4.0), name="uptake")
    seg = Segmentation(volume.geometry)
    seg.add("Liver", np.ones(shape, dtype=bool))
    seg.add("Tumor 1", tumour)
    return volume, seg


@pytest.mark.parametrize("t_to_n", [1.0, 4.0, 8.0])
def test_structure_mean_doses_match_the_partition_model(t_to_n):
    """Partition model (Ho et al., Eur J Nucl Med 1996) with density ρ = 1 g/ml and A = 2 GBq in the liver:

    V_T = 512·0.064 = 32.768 ml, V_N = (8000 − 512)·0.064 = 479.232 ml,
    D_T = K·A·(T/N) / (ρ·((T/N)·V_T + V_N)),  D_N = K·A / (ρ·((T/N)·V_T + V_N))   (volumes in kg: ml/1000).
    """
    volume, seg = _two_compartment_case(t_to_n)
    doses = structure_mean_doses(volume, compartment_masks(seg), 2.0, density=1.0)
    denominator_kg = (t_to_n * 32.768 + 479.232) / 1000.0
    assert doses["Tumour"] == pytest.approx(K * 2.0 * t_to_n / denominator_kg, rel=1e-6)
    assert doses["Normal liver"] == pytest.approx(K * 2.0 / denominator_kg, rel=1e-6)
    assert doses["Liver"] == pytest.approx(K * 2.0 / 0.512, rel=1e-6)  # whole liver: K·A/m, m = 512 ml·1 g/ml


def test_compartment_masks_need_a_tumour():
    volume, seg = _two_compartment_case(2.0)
    del seg.segments["Tumor 1"]
    with pytest.raises(ValueError, match="No tumour segment"):
        compartment_masks(seg)


def test_evaluation_of_a_perfect_predictor_is_zero_and_maa_baseline_matches_hand_calculation():
    """Y-90 T/N = 2, MAA T/N = 4 on the two-compartment phantom: the plain-MAA tumour dose error is
    D_T(4) − D_T(2) from the partition formula; an oracle that returns the Y-90 image has zero error."""
    maa, seg = _two_compartment_case(4.0)
    y90, _ = _two_compartment_case(2.0)
    case = PairedCase("phantom", maa, y90, None, seg)
    per_case, summary = evaluate_translation([case], lambda c: c.y90, administered_activity_gbq=2.0)
    model = per_case[per_case.method == "MAA→Y-90 model"]
    assert np.allclose(model.difference_gy, 0.0, atol=1e-9)
    maa_tumour = per_case[(per_case.method == "MAA (plain)") & (per_case.structure == "Tumour")].iloc[0]
    from Y90DosimetryLib.tissue import tissue_density

    rho = tissue_density("liver")

    def d_tumour(t_to_n):
        return K * 2.0 * t_to_n / (rho * (t_to_n * 32.768 + 479.232) / 1000.0)

    assert maa_tumour.difference_gy == pytest.approx(d_tumour(4.0) - d_tumour(2.0), rel=1e-6)
    assert set(summary.columns) >= {"mean_difference_gy", "sd_difference_gy", "cases"}


def test_synthetic_pairs_differ_as_simulated():
    """The simulated Y-90 PET is a different distribution than the MAA (T/N and shunt perturbed), on the same grid."""
    case = simulate_paired_case(3)
    assert case.y90.geometry.same_grid(case.maa.geometry)
    assert case.y90.metadata["synthetic"] is True
    masks = compartment_masks(case.segmentation)
    ratio_y90 = case.y90.array[masks["Tumour"]].mean() / case.y90.array[masks["Normal liver"]].mean()
    ratio_maa = case.maa.array[masks["Tumour"]].mean() / case.maa.array[masks["Normal liver"]].mean()
    assert abs(ratio_y90 - ratio_maa) > 0.05


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    cases = [simulate_paired_case(seed) for seed in (11, 12)]
    config = TrainingConfig(steps=40, batch_size=2, learning_rate=1e-3, seed=0, device="cpu")
    generator, history = train_translation(cases, config)
    folder = tmp_path_factory.mktemp("maa2y90")
    card_path = save_trained_model(generator, folder, config=config, history=history,
                                   training_data="2 SYNTHETIC phantom pairs (test)")
    return cases, generator, history, card_path


def test_training_reduces_the_l1_loss(trained):
    _, _, history, _ = trained
    assert len(history.l1) == 40 and len(history.adversarial) == 40
    assert np.mean(history.l1[-10:]) < np.mean(history.l1[:10])


def test_a_zero_output_generator_is_plain_maa_prediction():
    """y = MAA·exp(G(x)) with G ≡ 0 is the MAA distribution itself (renormalised to mean 1)."""

    class Zero(torch.nn.Module):
        def forward(self, x):
            return torch.zeros_like(x[:, :1])

    case = simulate_paired_case(4)
    predicted = predict_y90_distribution(Zero(), case.maa, case.ct, device="cpu")
    maa = np.clip(case.maa.array.astype(np.float64), 0, None)
    np.testing.assert_allclose(predicted.array, maa * (maa.size / maa.sum()), rtol=1e-4, atol=1e-6)


def test_trained_model_loads_through_its_card_and_predicts_like_the_module(trained, tmp_path):
    """The saved card validates, its SHA-256 is verified on load, and the loaded network gives the same prediction."""
    from HCCInterventionalAILib.models import load_card, load_model

    cases, generator, _, card_path = trained
    card = load_card(card_path)
    assert card.research_only and card.training.trained_by_project
    loaded = load_model(card, device="cpu", cache_dir=tmp_path / "cache")
    direct = predict_y90_distribution(generator, cases[0].maa, cases[0].ct, device="cpu")
    through_card = predict_y90_distribution(loaded, cases[0].maa, cases[0].ct, device="cpu")
    np.testing.assert_allclose(through_card.array, direct.array, rtol=1e-4, atol=1e-5)
    assert direct.array.min() >= 0 and direct.array.mean() == pytest.approx(1.0, rel=1e-4)
    assert through_card.metadata["model"]["model_id"] == "maa-to-y90-unet"


def test_corrupted_weights_are_refused(trained, tmp_path):
    from HCCInterventionalAILib.models import ChecksumMismatchError, load_card, load_model

    _, _, _, card_path = trained
    weights = card_path.parent / "maa-to-y90.pt"
    original = weights.read_bytes()
    try:
        weights.write_bytes(original[:-10] + b"0123456789")
        with pytest.raises(ChecksumMismatchError):
            load_model(load_card(card_path), device="cpu", cache_dir=tmp_path / "cache2")
    finally:
        weights.write_bytes(original)


def test_held_out_synthetic_evaluation_runs_at_toy_size(tmp_path):
    """``train_on_synthetic_cases`` end to end at toy size (1 small training pair, 3 steps, 1 held-out pair):
    it writes weights, a valid card and both evaluation tables, evaluates ONLY the held-out seed, and its
    numbers are sane by construction:
    - every method's whole-liver mean dose equals the delivered one exactly, since every image is scaled so the
      liver holds the same 2 GBq (D̄_liver = K·A/(ρ·V_liver) for any distribution): difference 0;
    - the plain-MAA baseline error is finite, non-zero (the simulation perturbs the Y-90 T/N by a lognormal
      factor, so MAA cannot be exact in the tumour) and smaller than the delivered tumour dose itself;
    - the card reports the held-out numbers on "held-out SYNTHETIC" data and says the project trained it."""
    import json

    import pandas as pd

    from HCCInterventionalAILib.models import load_card
    from Y90DosimetryLib.maa_to_y90.train_synthetic import train_on_synthetic_cases

    config = TrainingConfig(steps=3, batch_size=1, patch_size=16, seed=0, device="cpu")
    card_path = train_on_synthetic_cases(tmp_path / "model", train_seeds=range(11, 12), test_seeds=range(31, 32),
                                         config=config, size="small")
    folder = card_path.parent
    assert {p.name for p in folder.iterdir()} >= {"evaluation_per_case.csv", "evaluation_summary.csv",
                                                  card_path.name}
    per_case = pd.read_csv(folder / "evaluation_per_case.csv")
    summary = pd.read_csv(folder / "evaluation_summary.csv")
    assert set(per_case["case"]) == {"synthetic-31"}  # held-out seed only, never the training seed 11
    assert set(per_case["method"]) == {"MAA (plain)", "MAA→Y-90 model"}
    assert set(per_case["structure"]) == {"Liver", "Tumour", "Normal liver"}
    assert np.all(np.isfinite(per_case[["predicted_gy", "delivered_gy", "difference_gy"]].to_numpy()))
    liver = per_case[per_case.structure == "Liver"]
    np.testing.assert_allclose(liver.difference_gy, 0.0, atol=1e-9 * liver.delivered_gy.max())
    maa_tumour = per_case[(per_case.method == "MAA (plain)") & (per_case.structure == "Tumour")].iloc[0]
    assert 0 < abs(maa_tumour.difference_gy) < maa_tumour.delivered_gy
    assert maa_tumour.delivered_gy > per_case[(per_case.method == "MAA (plain)")
                                              & (per_case.structure == "Normal liver")].delivered_gy.iloc[0]
    row = summary[(summary.method == "MAA (plain)") & (summary.structure == "Tumour")].iloc[0]
    assert row.cases == 1 and row.mean_absolute_difference_gy == pytest.approx(abs(maa_tumour.difference_gy))

    card = load_card(card_path)  # validates against the schema
    assert card.training.trained_by_project and "SYNTHETIC" in card.training.data
    raw = json.loads(card_path.read_text(encoding="utf-8"))
    assert len(raw["reported_accuracy"]) == len(summary)
    assert all("held-out SYNTHETIC" in entry["dataset"] and "31-31" in entry["dataset"]
               for entry in raw["reported_accuracy"])
