"""Model cards of the published low-dose-CT denoisers of the ldct-benchmark model hub (issue 10, item 3); TransCT and
the bilateral filter have their own architecture tests (test_enhancement_ldct_transct.py, test_enhancement_bilateral.py).

Independent references:
* URLs and SHA-256 digests: ``ldctbench/hub/checkpoints.json`` of the ``ldct-benchmark`` 0.0.15 package (Eulig et al.,
  Med Phys 2024), copied into :data:`PUBLISHED` below;
* normalisation: ldct-benchmark stores CT as HU + 1024 (``LDCTMayo._convert_hu``) and normalises with the training
  set's mean 481.45419786099086 and sd 502.18507379395044 (``ldctbench/data/info.yml``, ``"meanstd"``);
* parameter counts by hand from the papers' layer lists (weights + biases; BatchNorm: weight + bias):
  RED-CNN, 96 maps (Chen et al., IEEE TMI 2017): conv1 1·96·25+96 = 2 496; conv2–5 and tconv1–4 8·(96·96·25+96)
  = 1 843 968; tconv5 96·25+1 = 2 401; total 1 848 865.
  CNN-10 (Chen et al., Biomed Opt Express 2017): 1·64·81+64 + 64·32·9+32 + 32·25+1 = 5 248 + 18 464 + 801 = 24 513.
  ResNet (Missert et al. 2018), 128 channels, 10 blocks: in 1·128·81+128 = 10 496; block 128·128·9+128 + 256
  + 128·16·9+128 + 256 + 128·128+128 = 183 168, ×10 = 1 831 680; out 128·9+1 = 1 153; total 1 843 329.
  WGAN-VGG generator (Yang et al., IEEE TMI 2018), eight 3×3 layers, 32 maps: conv1 1·32·9+32 = 320; conv2–7
  6·(32·32·9+32) = 6·9 248 = 55 488; conv8 32·9+1 = 289; total 56 097.
  Q-AE (Fan et al., IEEE TMI 2020), 15 maps, each quadratic 3×3 layer has three kernels (W_r, W_g, W_b) and three
  biases (b_r, b_g, b_b): encoder 1 3·(1·15·9)+3·15 = 450; encoder 2–5 and decoder 1–4 8·(3·15·15·9+3·15)
  = 8·6 120 = 48 960; decoder 5 3·(15·1·9)+3·1 = 408; total 49 818.
  DU-GAN (Huang et al., IEEE TIM 2022): its generator is RED-CNN with 96 maps, so 1 848 865 as above.
* state-dict key names: read off ldct-benchmark 0.0.15's ``ldctbench/methods/<method>/network.py`` (``Model``) and
  written out in :data:`KEYS` (WGAN-VGG: ``nn.Sequential`` ``net`` with the convolutions at even indices 0–14, the
  ReLUs between them holding no parameters; Q-AE: ``encoder.0–4`` and ``decoder.0–4``, each with W_r, W_g, W_b, b_r,
  b_g, b_b; DU-GAN: ldct-benchmark's dugan imports redcnn's ``Model``, conv1–5 and tconv1–5 weight and bias).

Nothing is downloaded: the loading test saves a random-weight network in the checkpoint layout ldct-benchmark uses
(``{"model_state_dict": ..., "args": argparse.Namespace(...)}``) to a temporary file and points a copy of the card at it
with that file's own SHA-256.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re

import numpy as np
import pytest
from torch_threads import one_torch_thread  # noqa: F401  (autouse: torch on one thread)

from HCCInterventionalAILib.models.card import builtin_cards_directory, card_from_dict, load_card

#: ldct-benchmark 0.0.15, ldctbench/hub/checkpoints.json: method → (url, checksum).
PUBLISHED = {
    "redcnn": ("https://downloads.eeulig.com/ldct-benchmark/redcnn.pt",
               "058ae58264a00116e5620ed88047e687c7e93c8b732bfd6d7796e76bae0c74f3"),
    "resnet": ("https://downloads.eeulig.com/ldct-benchmark/resnet.pt",
               "4fe7137fe5abe7c381d746914528eaf23f061204580d8f027faf4d5eaaca6714"),
    "cnn10": ("https://downloads.eeulig.com/ldct-benchmark/cnn10.pt",
              "ee96e494c8eda02e946464df29cf43c14163e63bc4b1df6d8907ee33a1a18c3e"),
    "wganvgg": ("https://downloads.eeulig.com/ldct-benchmark/wganvgg.pt",
                "1ad87d16aefea99a9eeb474c33127971131cc21a07e129bf464c764cf9ca6003"),
    "qae": ("https://downloads.eeulig.com/ldct-benchmark/qae.pt",
            "ca6ce543b476d4c3673acd2f3d1284d47d98483c41a61cc912f5214c80921363"),
    "dugan": ("https://downloads.eeulig.com/ldct-benchmark/dugan.pt",
              "c6faad8376994fe22eadc0a723f81705fda6f435f40ef0f999666e871216ac5e"),
    "transct": ("https://downloads.eeulig.com/ldct-benchmark/transct.pt",
                "37b5af1cb4fdfaa0c1d67d5992a5e9c6da5b6afda59bf5274d1fe5db163f959e"),
    "bilateral": ("https://downloads.eeulig.com/ldct-benchmark/bilateral.pt",
                  "3e0722758e31c92fd11cc8bb9f5d2e93714a885bbe21183228fbe8946e79d5ff"),
}
#: Slice sizes a card is restricted to (TransCT's token grids are fixed by 512×512 slices).
SLICE_SHAPE = {"transct": (512, 512)}
PARAMETERS = {"redcnn": 1_848_865, "cnn10": 24_513, "resnet": 1_843_329, "wganvgg": 56_097, "qae": 49_818, "dugan": 1_848_865}
#: Parameter names of ldct-benchmark's ``Model`` for the cards tested by key (see the module docstring).
KEYS = {
    "wganvgg": {f"net.{2 * i}.{p}" for i in range(8) for p in ("weight", "bias")},
    "qae": {f"{part}.{i}.{p}" for part in ("encoder", "decoder") for i in range(5)
            for p in ("W_r", "W_g", "W_b", "b_r", "b_g", "b_b")},
    "dugan": {f"{layer}{i}.{p}" for layer in ("conv", "tconv") for i in range(1, 6) for p in ("weight", "bias")},
}
MEAN, STD = 481.45419786099086, 502.18507379395044


def _card_path(method: str):
    return builtin_cards_directory() / f"ldct-benchmark-{method}.json"


@pytest.mark.parametrize("method", sorted(PUBLISHED))
def test_card_matches_the_published_checkpoint_list(method):
    """Each card validates against the schema (load_card), names the published URL and SHA-256 (64 hex digits),
    the 'model_state_dict' key, 2D slice-wise input, and ldct-benchmark's normalisation (HU + 1024, mean, sd)."""
    import jsonschema

    path = _card_path(method)
    data = json.loads(path.read_text(encoding="utf-8"))
    schema = json.loads((builtin_cards_directory() / "model-card.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(data)
    card = load_card(path)
    url, digest = PUBLISHED[method]
    assert [(f.url, f.sha256) for f in card.files] == [(url, digest)]
    assert all(re.fullmatch(r"[0-9a-f]{64}", f.sha256) for f in card.files)
    assert card.task == "image-to-image" and card.format == "state_dict" and card.state_dict_key == "model_state_dict"
    assert card.input.modality == "CT" and card.input.spatial_dims == 2
    assert card.input.slice_shape == SLICE_SHAPE.get(method)
    norm = card.input_normalisation
    assert (norm.hu_offset, norm.mean, norm.scale, norm.residual) == (1024.0, MEAN, STD, False)
    assert not card.training.trained_by_project and card.research_only


@pytest.mark.parametrize("method", sorted(PARAMETERS))
def test_named_architecture_builds_with_the_papers_parameter_count(method):
    """The network a card names builds through the model library, with the parameter count worked out by hand from
    the paper (module docstring), and maps a (2, 1, 40, 40) batch to the same shape."""
    torch = pytest.importorskip("torch")
    from HCCInterventionalAILib.models.networks import build_network

    card = load_card(_card_path(method))
    network = build_network(card.network.name, card.network.args).eval()
    assert sum(p.numel() for p in network.parameters()) == PARAMETERS[method]
    with torch.no_grad():
        assert network(torch.zeros(2, 1, 40, 40)).shape == (2, 1, 40, 40)


def test_redcnn_checkpoint_layout_loads_and_denoises_through_the_card(tmp_path):
    """A random-weight RED-CNN saved as ldct-benchmark saves it ({'model_state_dict', 'args': Namespace}) loads through
    the model library with the card's key and a digest computed here on the file; denoise_with_card equals the
    normalisation done by hand: HU → (HU + 1024 − mean)/sd → network → ·sd + mean − 1024."""
    torch = pytest.importorskip("torch")
    from HCCInterventionalAILib.enhancement.card_denoise import denoise_with_card
    from HCCInterventionalAILib.enhancement.ldct_networks import build_redcnn
    from HCCInterventionalAILib.imaging.volume import Volume
    from HCCInterventionalAILib.models.loading import load_model

    torch.manual_seed(0)
    reference = build_redcnn(out_ch=8).eval()
    checkpoint = tmp_path / "redcnn.pt"
    torch.save({"model_state_dict": reference.state_dict(), "args": argparse.Namespace(lr=1e-4, data_norm="meanstd"),
                "epoch": 3}, checkpoint)
    data = json.loads(_card_path("redcnn").read_text(encoding="utf-8"))
    data["network"]["args"]["out_ch"] = 8
    data["files"] = [{"url": checkpoint.as_uri(), "filename": "redcnn.pt",
                      "sha256": hashlib.sha256(checkpoint.read_bytes()).hexdigest()}]
    card = card_from_dict(data)
    model = load_model(card, device="cpu", cache_dir=tmp_path / "cache", use_cache=False)
    batch = torch.randn(2, 1, 24, 24)
    with torch.no_grad():
        np.testing.assert_allclose(model(batch).numpy(), reference(batch).numpy(), atol=1e-5)

    rng = np.random.default_rng(0)
    hu = rng.normal(40.0, 30.0, (3, 24, 24)).astype(np.float32)
    hu[:, :4] = -1000.0  # air at the edge: denoise_with_card checks the input is a CT in HU (require_ct)
    ct = Volume.from_array(hu, modality="CT", units="HU", name="CT")
    denoised = denoise_with_card(ct, card, device="cpu", batch_slices=2, cache_dir=tmp_path / "cache")
    with torch.no_grad():
        x = torch.from_numpy((hu + 1024.0 - MEAN) / STD)[:, None].float()
        expected = reference(x)[:, 0].numpy() * STD + MEAN - 1024.0
    np.testing.assert_allclose(denoised.array, expected, atol=1e-3)
    assert denoised.geometry == ct.geometry and denoised.metadata["denoiser"] == card.key


@pytest.mark.parametrize("method", sorted(KEYS))
def test_checkpoint_with_ldct_benchmark_keys_loads_through_the_card(method, tmp_path):
    """The network the card names has exactly ldct-benchmark's parameter names (KEYS); a random-weight state dict
    saved in ldct-benchmark's layout under those names loads through the card (digest computed here on the file)
    and the loaded model computes what the network that saved it computes (atol 1e-5)."""
    torch = pytest.importorskip("torch")
    from HCCInterventionalAILib.models.loading import load_model
    from HCCInterventionalAILib.models.networks import build_network

    card = load_card(_card_path(method))
    torch.manual_seed(1)
    reference = build_network(card.network.name, card.network.args).eval()
    assert set(reference.state_dict()) == KEYS[method]
    with torch.no_grad():
        for parameter in reference.parameters():
            parameter.copy_(0.05 * torch.randn_like(parameter))
    checkpoint = tmp_path / f"{method}.pt"
    torch.save({"model_state_dict": reference.state_dict(), "args": argparse.Namespace(data_norm="meanstd")},
               checkpoint)
    data = json.loads(_card_path(method).read_text(encoding="utf-8"))
    data["files"] = [{"url": checkpoint.as_uri(), "filename": f"{method}.pt",
                      "sha256": hashlib.sha256(checkpoint.read_bytes()).hexdigest()}]
    model = load_model(card_from_dict(data), device="cpu", cache_dir=tmp_path / "cache", use_cache=False)
    batch = torch.randn(2, 1, 24, 24)
    with torch.no_grad():
        np.testing.assert_allclose(model(batch).numpy(), reference(batch).numpy(), atol=1e-5)


def test_a_segmentation_card_is_refused_as_a_denoiser():
    """denoise_with_card refuses a card that is not a CT image-to-image network, with a clear error."""
    from HCCInterventionalAILib.enhancement.card_denoise import denoise_with_card
    from HCCInterventionalAILib.enhancement.errors import EnhancementInputError
    from HCCInterventionalAILib.imaging.volume import Volume

    ct = Volume.from_array(np.zeros((1, 8, 8), np.float32) - 1000.0, modality="CT", units="HU")
    with pytest.raises(EnhancementInputError, match="not a CT denoiser"):
        denoise_with_card(ct, "liver-classical")
