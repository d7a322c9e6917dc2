"""Trainable bilateral filter layers (Wagner et al., Med Phys 2022) and the ldct-benchmark card (issue 10, item 3).

Independent references:
* URL and SHA-256: checked with the other ldct-benchmark cards in ``test_enhancement_ldct_cards.py``.
* Parameter names: ldct-benchmark's ``methods/bilateral/network.py`` holds ``filters`` = ``nn.Sequential`` of three
  ``BilateralFilter3d`` layers of ``bilateralfilter_torch`` 1.1.0, each with the scalar parameters ``sigma_x``,
  ``sigma_y``, ``sigma_z``, ``color_sigma``: 3 · 4 = 12 names and 12 numbers.
* Window: ``w = max(⌈5σ⌉ | 1, 5)`` taps, half-width ``⌊w/2⌋`` (the layer's definition), by hand: σ = 0.5 → ⌈2.5⌉ = 3,
  3 | 1 = 3, max(3, 5) = 5 → 2; σ = 1.0 → 5 → 2; σ = 1.3 → ⌈6.5⌉ = 7 → 7 → 3; σ = 1.41 → ⌈7.05⌉ = 8, 8 | 1 = 9 → 4;
  σ = 2.0 → 10, 10 | 1 = 11 → 5.
* For σ_r → ∞ the range factor is 1 and the filter is a Gaussian normalised convolution over the in-volume
  neighbours: scipy.ndimage.gaussian_filter(I, σ, mode='constant', cval=0, radius=h) divided by the same filter of an
  all-ones volume (scipy's kernel normalisation cancels in the ratio).
* Two voxels of a 3×3 slice, by hand (σ_x = σ_y = 0.5 → spatial factor exp(−2d²) with d² the squared pixel
  distance, σ_r = 1 → range factor exp(−ΔI²/2), every pixel inside the 5×5 window):
  image [[0, 0, 0], [0, 1, 0], [0, 0, 2]].
  Centre (value 1): the centre weighs 1; the four edge neighbours (value 0, d² = 1) e^−2·e^−0.5; the three corners of
  value 0 and the corner of value 2 (d² = 2, ΔI² = 1) e^−4·e^−0.5 each; so
  O = (1 + 2e^−4.5) / (1 + 4e^−2.5 + 4e^−4.5) = 1.022218 / 1.372776 = 0.744636.
  Corner (0, 0) (value 0): neighbours (0,1), (1,0) d² = 1, value 0: e^−2 each; (1,1) d² = 2, value 1: e^−4·e^−0.5;
  (0,2), (2,0) d² = 4: e^−8; (1,2), (2,1) d² = 5: e^−10; (2,2) d² = 8, value 2: e^−16·e^−2; itself 1; so
  O = (e^−4.5 + 2e^−18) / (1 + 2e^−2 + e^−4.5 + 2e^−8 + 2e^−10 + e^−18) = 0.0086617 (pixels outside the slice are
  left out of both sums, not padded).

Nothing is downloaded: the loading test saves random widths in ldct-benchmark's checkpoint layout to a temporary file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math

import numpy as np
import pytest
from torch_threads import one_torch_thread  # noqa: F401  (autouse: torch on one thread)

from HCCInterventionalAILib.models.card import builtin_cards_directory, card_from_dict, load_card

MEAN, STD = 481.45419786099086, 502.18507379395044
CARD = builtin_cards_directory() / "ldct-benchmark-bilateral.json"
KEYS = {f"filters.{i}.{name}" for i in range(3) for name in ("sigma_x", "sigma_y", "sigma_z", "color_sigma")}


def test_network_has_ldct_benchmarks_12_parameters():
    """The card's network builds with ldct-benchmark's 12 parameter names, one number each (URL, digest and
    normalisation of the card: ``test_enhancement_ldct_cards.py``)."""
    pytest.importorskip("torch")
    from HCCInterventionalAILib.models.networks import build_network

    card = load_card(CARD)
    network = build_network(card.network.name, card.network.args)
    state = network.state_dict()
    assert set(state) == KEYS and all(tensor.shape == () for tensor in state.values())
    assert sum(p.numel() for p in network.parameters()) == 12


def test_window_half_widths_follow_the_layer_definition():
    """Half-widths by hand (module docstring): σ 0.5, 1.0 → 2; 1.3 → 3; 1.41 → 4; 2.0 → 5."""
    from HCCInterventionalAILib.enhancement.bilateral_filter import bilateral_half_window

    assert [bilateral_half_window(s) for s in (0.5, 1.0, 1.3, 1.41, 2.0)] == [2, 2, 3, 4, 5]


def test_infinite_range_width_is_a_gaussian_normalised_convolution():
    """σ_r = 1e6 on a random 6×9×12 volume with σ = (0.5, 1.3, 2.0) along x, y, z (half-widths 2, 3, 5) equals
    scipy's Gaussian filter of the volume over that of an all-ones volume (zero outside), to 1e-5."""
    torch = pytest.importorskip("torch")
    from scipy import ndimage

    from HCCInterventionalAILib.enhancement.bilateral_filter import bilateral_filter_3d

    volume = np.random.default_rng(0).normal(size=(6, 9, 12))
    sigmas, radius = (0.5, 1.3, 2.0), (2, 3, 5)
    filtered = bilateral_filter_3d(torch.from_numpy(volume)[None, None], *sigmas, 1e6)[0, 0].numpy()
    numerator = ndimage.gaussian_filter(volume, sigmas, mode="constant", cval=0.0, radius=radius)
    denominator = ndimage.gaussian_filter(np.ones_like(volume), sigmas, mode="constant", cval=0.0, radius=radius)
    np.testing.assert_allclose(filtered, numerator / denominator, atol=1e-5)


def test_finite_range_width_matches_the_hand_computed_voxels():
    """The 3×3 slice of the module docstring: centre 0.744636 and corner 0.0086617 (formulas there), rtol 1e-6;
    σ_z has no effect on a z axis of length one."""
    torch = pytest.importorskip("torch")
    from HCCInterventionalAILib.enhancement.bilateral_filter import bilateral_filter_3d

    e = math.exp
    image = torch.tensor([[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 2.0]], dtype=torch.float64)[None, None, ..., None]
    out = bilateral_filter_3d(image, 0.5, 0.5, 0.5, 1.0)[0, 0, ..., 0].numpy()
    centre = (1 + 2 * e(-4.5)) / (1 + 4 * e(-2.5) + 4 * e(-4.5))
    corner = (e(-4.5) + 2 * e(-18)) / (1 + 2 * e(-2) + e(-4.5) + 2 * e(-8) + 2 * e(-10) + e(-18))
    np.testing.assert_allclose([out[1, 1], out[0, 0]], [centre, corner], rtol=1e-6)
    assert round(centre, 6) == 0.744636 and round(corner, 7) == 0.0086617
    other_z = bilateral_filter_3d(image, 0.5, 0.5, 3.0, 1.0)[0, 0, ..., 0].numpy()
    np.testing.assert_array_equal(other_z, out)


def test_widths_are_trainable_and_bad_input_is_refused():
    """Autograd gives a finite, non-zero gradient for all four widths of a 3-D layer; zero widths and multi-channel
    input raise ValueError."""
    torch = pytest.importorskip("torch")
    from HCCInterventionalAILib.enhancement.bilateral_filter import bilateral_filter_3d

    sigmas = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (0.8, 1.1, 0.9, 0.5)]
    volume = torch.from_numpy(np.random.default_rng(1).normal(size=(1, 1, 5, 6, 7)))
    bilateral_filter_3d(volume, *sigmas).square().sum().backward()
    grads = [float(s.grad) for s in sigmas]
    assert all(math.isfinite(g) and g != 0.0 for g in grads)
    with pytest.raises(ValueError, match="sigma_r"):
        bilateral_filter_3d(volume, 1.0, 1.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="one channel|N, 1"):
        bilateral_filter_3d(torch.zeros(1, 2, 4, 4, 1), 1.0, 1.0, 1.0, 1.0)


def test_checkpoint_layout_loads_and_denoises_through_the_card(tmp_path):
    """Random widths saved in ldct-benchmark's layout load through the card (digest computed here); the loaded model
    equals the saving one (atol 1e-6) and equals three bilateral_filter_3d calls with those widths on the slices
    (z of length one); denoise_with_card equals the normalisation by hand (atol 1e-2 HU) and lowers the noise sd of
    the soft-tissue region (30 HU white noise) below 0.8 of the input's."""
    torch = pytest.importorskip("torch")
    from HCCInterventionalAILib.enhancement.bilateral_filter import bilateral_filter_3d
    from HCCInterventionalAILib.enhancement.card_denoise import denoise_with_card
    from HCCInterventionalAILib.imaging.volume import Volume
    from HCCInterventionalAILib.models.loading import load_model
    from HCCInterventionalAILib.models.networks import build_network

    card = load_card(CARD)
    reference = build_network(card.network.name, card.network.args).eval()
    widths = {"sigma_x": (0.7, 1.2, 0.9), "sigma_y": (1.5, 0.6, 1.0), "sigma_z": (0.5, 0.5, 0.5),
              "color_sigma": (0.08, 0.12, 0.05)}
    with torch.no_grad():
        for name, values in widths.items():
            for index, value in enumerate(values):
                getattr(reference.filters[index], name).fill_(value)
    checkpoint = tmp_path / "bilateral.pt"
    torch.save({"model_state_dict": reference.state_dict(), "args": argparse.Namespace(cuda=True)}, checkpoint)
    data = json.loads(CARD.read_text(encoding="utf-8"))
    data["files"] = [{"url": checkpoint.as_uri(), "filename": "bilateral.pt",
                      "sha256": hashlib.sha256(checkpoint.read_bytes()).hexdigest()}]
    card = card_from_dict(data)
    model = load_model(card, device="cpu", cache_dir=tmp_path / "cache", use_cache=False)

    rng = np.random.default_rng(2)
    hu = rng.normal(40.0, 30.0, (2, 20, 24)).astype(np.float32)
    hu[:, :3] = -1000.0
    x = torch.from_numpy((hu + 1024.0 - MEAN) / STD)[:, None].float()
    with torch.no_grad():
        expected = x[..., None]
        for index in range(3):
            expected = bilateral_filter_3d(expected, *(widths[n][index] for n in widths))
        expected = expected[..., 0]
        np.testing.assert_allclose(model(x).numpy(), reference(x).numpy(), atol=1e-6)
        np.testing.assert_allclose(model(x).numpy(), expected.numpy(), atol=1e-6)
    ct = Volume.from_array(hu, modality="CT", units="HU", name="CT")
    denoised = denoise_with_card(ct, card, device="cpu", batch_slices=2, cache_dir=tmp_path / "cache")
    np.testing.assert_allclose(denoised.array, expected[:, 0].numpy() * STD + MEAN - 1024.0, atol=1e-2)
    assert float(denoised.array[:, 8:].std()) < 0.8 * float(hu[:, 8:].std())  # weighted means reduce the noise
