"""TransCT (Zhang et al., MICCAI 2021) and its ldct-benchmark model card (issue 10, item 3).

Independent references:
* URL and SHA-256: checked with the other ldct-benchmark cards in ``test_enhancement_ldct_cards.py``;
  normalisation as for the other ldct-benchmark cards (HU + 1024, training-set mean 481.454…, sd 502.185…,
  ``ldctbench/data/info.yml``, ``"meanstd"``).
* Parameter names and shapes: read off ldct-benchmark 0.0.15's ``ldctbench/methods/transct/network.py`` (``Model``)
  and written out by hand in :func:`_expected_shapes` from its layer list (``nn.MultiheadAttention`` with equal
  query/key/value widths stores ``in_proj_weight`` (3E, E); with key/value width 256 ≠ E = 1024 it stores
  ``q_proj_weight`` (E, E), ``k_proj_weight`` and ``v_proj_weight`` (E, 256); both store ``in_proj_bias`` (3E) and
  ``out_proj`` (E, E) + (E)).
* Parameter count by hand from the paper's layer list (weights + biases):
  low-frequency encoder: 5×5 convolutions 1→16: 1·16·25+16 = 416; 16→32: 16·32·25+32 = 12 832; c1 32→64: 51 264;
  c2 64→256: 64·256·25+256 = 409 856; texture branch 32→64: 51 264, 64→128: 64·128·25+128 = 204 928,
  128→256: 128·256·25+256 = 819 456; sum 1 550 016.
  high-frequency encoder: three 3×3 256→256: 3·(256·256·9+256) = 3·590 080 = 1 770 240.
  transformer encoder layer (width 256): attention 3·256·256+3·256 = 197 376, output 256·256+256 = 65 792,
  feed-forward 256·2048+2048 = 526 336 and 2048·256+256 = 524 544; 1 314 048 per layer, ×3 = 3 942 144.
  transformer decoder layer (width 1024, memory width 256): self-attention 3·1024²+3·1024 = 3 148 800, output
  1024²+1024 = 1 049 600; cross-attention q 1024² = 1 048 576, k and v 2·1024·256 = 524 288, bias 3 072, output
  1 049 600 → 2 625 536; feed-forward 1024·8192+8192 = 8 396 800 and 8192·1024+1024 = 8 389 632; 23 610 368 per
  layer, ×3 = 70 831 104.
  reconstruction: two 3×3 256→256: 2·590 080 = 1 180 160; two 3×3 64→64: 2·(64·64·9+64) = 73 856; sum 1 254 016.
  Total 1 550 016 + 1 770 240 + 3 942 144 + 70 831 104 + 1 254 016 = 79 347 520.
* Gaussian split: scipy.ndimage.gaussian_filter (σ 1.5, radius 5 = the 11-tap kernel, mode 'mirror' = torch's
  'reflect'), and the sampled kernel exp(−d²/(2σ²))/Σ written out with numpy.
* Space-to-depth / depth-to-space: TensorFlow's definition written as an explicit index loop, and for one channel
  torch's ``pixel_unshuffle`` (whose order coincides with TensorFlow's when C = 1).

Nothing is downloaded: the loading test saves random weights in ldct-benchmark's checkpoint layout
(``{"model_state_dict": ..., "args": Namespace}``) to a temporary file with its own SHA-256.
"""

from __future__ import annotations

import argparse
import hashlib
import json

import numpy as np
import pytest
from torch_threads import one_torch_thread  # noqa: F401  (autouse: torch on one thread)

from HCCInterventionalAILib.models.card import builtin_cards_directory, card_from_dict, load_card

PARAMETERS = 79_347_520
MEAN, STD = 481.45419786099086, 502.18507379395044
CARD = builtin_cards_directory() / "ldct-benchmark-transct.json"


def _expected_shapes() -> dict[str, tuple[int, ...]]:
    """ldct-benchmark TransCT's parameter names and shapes, from its layer list (module docstring)."""
    shapes: dict[str, tuple[int, ...]] = {}

    def conv(name: str, cin: int, cout: int, k: int) -> None:
        shapes[f"{name}.weight"], shapes[f"{name}.bias"] = (cout, cin, k, k), (cout,)

    def linear(name: str, cin: int, cout: int) -> None:
        shapes[f"{name}.weight"], shapes[f"{name}.bias"] = (cout, cin), (cout,)

    for name, cin, cout in [("base_encoder.0", 1, 16), ("base_encoder.2", 16, 32), ("lc1.0", 32, 64),
                            ("lc2.0", 64, 256), ("transformer_endoder.0", 32, 64),
                            ("transformer_endoder.2", 64, 128), ("transformer_endoder.4", 128, 256)]:
        conv(f"conv_encoder_lf.{name}", cin, cout, 5)
    for index in (0, 2, 4):
        conv(f"conv_encoder_hf.{index}", 256, 256, 3)
    for layer in range(3):
        m = f"memory.{layer}"
        shapes[f"{m}.mha.in_proj_weight"], shapes[f"{m}.mha.in_proj_bias"] = (768, 256), (768,)
        linear(f"{m}.mha.out_proj", 256, 256)
        linear(f"{m}.ff.0", 256, 2048)
        linear(f"{m}.ff.2", 2048, 256)
        d = f"decoder.{layer}"
        shapes[f"{d}.mha1.in_proj_weight"], shapes[f"{d}.mha1.in_proj_bias"] = (3072, 1024), (3072,)
        linear(f"{d}.mha1.out_proj", 1024, 1024)
        shapes[f"{d}.mha2.q_proj_weight"] = (1024, 1024)
        shapes[f"{d}.mha2.k_proj_weight"] = shapes[f"{d}.mha2.v_proj_weight"] = (1024, 256)
        shapes[f"{d}.mha2.in_proj_bias"] = (3072,)
        linear(f"{d}.mha2.out_proj", 1024, 1024)
        linear(f"{d}.ff.0", 1024, 8192)
        linear(f"{d}.ff.2", 8192, 1024)
    for index in (0, 2):
        conv(f"combine.block1.{index}", 256, 256, 3)
        conv(f"combine.block2.{index}", 64, 64, 3)
    return shapes


@pytest.fixture(scope="module")
def transct():
    """A TransCT built through the model library from the card, with random weights (seed 0), in eval mode."""
    torch = pytest.importorskip("torch")
    from HCCInterventionalAILib.models.networks import build_network

    torch.manual_seed(0)
    card = load_card(CARD)
    return build_network(card.network.name, card.network.args).eval()


def test_card_states_the_512_slice_limit():
    """The card restricts input to 512×512 slices and says so in its limitations (URL, digest and normalisation of
    the card: ``test_enhancement_ldct_cards.py``)."""
    card = load_card(CARD)
    assert card.input.slice_shape == (512, 512)
    assert "512x512" in card.limitations


def test_parameter_names_shapes_and_count_match_the_layer_list(transct):
    """Every parameter name and shape equals ldct-benchmark's (written out by hand); 79 347 520 parameters as counted
    by hand in the module docstring; the sum over the hand-written shapes gives the same number."""
    expected = _expected_shapes()
    state = transct.state_dict()
    assert set(state) == set(expected)
    assert {name: tuple(tensor.shape) for name, tensor in state.items()} == expected
    assert sum(int(np.prod(shape)) for shape in expected.values()) == PARAMETERS
    assert sum(p.numel() for p in transct.parameters()) == PARAMETERS


def test_gaussian_split_equals_scipy_gaussian_filter():
    """The 11-tap σ = 1.5 kernel equals exp(−d²/4.5)/Σ (d = −5…5); the blur of a random 40×52 image equals
    scipy.ndimage.gaussian_filter(σ 1.5, radius 5, mode 'mirror') to 1e-5."""
    torch = pytest.importorskip("torch")
    from scipy import ndimage

    from HCCInterventionalAILib.enhancement.ldct_transct import gaussian_blur_2d, gaussian_kernel_1d

    d = np.arange(-5, 6, dtype=np.float64)
    analytic = np.exp(-d ** 2 / 4.5) / np.exp(-d ** 2 / 4.5).sum()
    np.testing.assert_allclose(gaussian_kernel_1d(11, 1.5).numpy(), analytic, rtol=1e-6)
    image = np.random.default_rng(3).normal(size=(2, 40, 52)).astype(np.float32)
    blurred = gaussian_blur_2d(torch.from_numpy(image)[:, None])[:, 0].numpy()
    for index in range(2):
        reference = ndimage.gaussian_filter(image[index].astype(np.float64), 1.5, mode="mirror", radius=5)
        np.testing.assert_allclose(blurred[index], reference, atol=1e-5)


def test_space_to_depth_follows_tensorflows_channel_order():
    """space_to_depth: out[n, (i·b + j)·C + c, h, w] = x[n, c, h·b + i, w·b + j] (TensorFlow), checked by an explicit
    loop for C = 3, b = 2; depth_to_space inverts it; for C = 1 both equal torch's pixel_(un)shuffle."""
    torch = pytest.importorskip("torch")
    from HCCInterventionalAILib.enhancement.ldct_transct import depth_to_space, space_to_depth

    x = torch.arange(2 * 3 * 4 * 6, dtype=torch.float32).reshape(2, 3, 4, 6)
    out = space_to_depth(x, 2)
    assert out.shape == (2, 12, 2, 3)
    for n, c, h, w, i, j in np.ndindex(2, 3, 2, 3, 2, 2):
        assert out[n, (i * 2 + j) * 3 + c, h, w] == x[n, c, h * 2 + i, w * 2 + j]
    assert torch.equal(depth_to_space(out, 2), x)
    single = torch.randn(1, 1, 32, 48)
    assert torch.equal(space_to_depth(single, 16), torch.nn.functional.pixel_unshuffle(single, 16))
    assert torch.equal(depth_to_space(space_to_depth(single, 8), 8), single)


def test_checkpoint_layout_loads_and_denoises_a_512_slice_through_the_card(transct, tmp_path):
    """Random weights saved in ldct-benchmark's layout load through the card (digest computed here); a (1, 1, 512, 512)
    slice gives a (1, 1, 512, 512) output equal to the saving network's (atol 1e-5); denoise_with_card on a
    512×512×1 CT equals the normalisation by hand: (HU + 1024 − mean)/sd → network → ·sd + mean − 1024 (atol 1e-2 HU)."""
    torch = pytest.importorskip("torch")
    from HCCInterventionalAILib.enhancement.card_denoise import denoise_with_card
    from HCCInterventionalAILib.imaging.volume import Volume
    from HCCInterventionalAILib.models.loading import load_model

    checkpoint = tmp_path / "transct.pt"
    torch.save({"model_state_dict": transct.state_dict(), "args": argparse.Namespace(data_norm="meanstd")},
               checkpoint)
    data = json.loads(CARD.read_text(encoding="utf-8"))
    data["files"] = [{"url": checkpoint.as_uri(), "filename": "transct.pt",
                      "sha256": hashlib.sha256(checkpoint.read_bytes()).hexdigest()}]
    card = card_from_dict(data)
    model = load_model(card, device="cpu", cache_dir=tmp_path / "cache", use_cache=False)
    checkpoint.unlink()

    rng = np.random.default_rng(0)
    hu = rng.normal(40.0, 30.0, (1, 512, 512)).astype(np.float32)
    hu[:, :40] = -1000.0  # air above the body
    x = torch.from_numpy((hu + 1024.0 - MEAN) / STD)[:, None].float()
    with torch.no_grad():
        expected = transct(x)
        assert expected.shape == (1, 1, 512, 512) and bool(torch.isfinite(expected).all())
        np.testing.assert_allclose(model(x).numpy(), expected.numpy(), atol=1e-5)
    ct = Volume.from_array(hu, modality="CT", units="HU", name="CT")
    denoised = denoise_with_card(ct, card, device="cpu", batch_slices=1, cache_dir=tmp_path / "cache")
    np.testing.assert_allclose(denoised.array, expected[:, 0].numpy() * STD + MEAN - 1024.0, atol=1e-2)
    assert denoised.geometry == ct.geometry


def test_other_slice_sizes_are_refused_before_the_weights_are_fetched(transct, tmp_path):
    """A 256×256 CT gives EnhancementInputError naming both sizes, raised before the (here unreachable) weights are
    fetched; the network itself refuses a 256² slice with a ValueError, not a reshape traceback."""
    torch = pytest.importorskip("torch")
    from HCCInterventionalAILib.enhancement.card_denoise import denoise_with_card
    from HCCInterventionalAILib.enhancement.errors import EnhancementInputError
    from HCCInterventionalAILib.imaging.volume import Volume

    data = json.loads(CARD.read_text(encoding="utf-8"))
    data["files"][0]["url"] = (tmp_path / "missing.pt").as_uri()
    hu = np.full((2, 256, 256), 40.0, np.float32)
    hu[:, :20] = -1000.0
    ct = Volume.from_array(hu, modality="CT", units="HU", name="CT")
    with pytest.raises(EnhancementInputError, match=r"512×512 pixels, but this CT has 256×256"):
        denoise_with_card(ct, card_from_dict(data), device="cpu", cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.pt"))
    with pytest.raises(ValueError, match="512, 512"):
        transct(torch.zeros(1, 1, 256, 256))


def test_slice_shape_needs_a_two_dimensional_network():
    """A card with input.slice_shape but spatial_dims 3 is refused by the card checks (ModelCardError, a ValueError)."""
    from HCCInterventionalAILib.models.errors import ModelCardError

    data = json.loads(CARD.read_text(encoding="utf-8"))
    data["input"]["spatial_dims"] = 3
    with pytest.raises(ModelCardError, match="slice_shape"):
        card_from_dict(data)
