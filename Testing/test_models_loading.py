"""Safe loading of every model format, refusal of code-executing payloads, and the LRU model cache.

The reference for every output is the original torch network the test built, run directly.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import warnings
import zipfile
from pathlib import Path

import pytest
from optional_deps import require_torch
from test_models_support import card_dict, file_entry, save_state_dict, tiny_unet, write_card

torch, _ = require_torch()

from HCCInterventionalAILib.models import (  # noqa: E402
    ModelCardError,
    ModelLoadError,
    UnsafeModelError,
    clear_model_cache,
    load_card,
    load_model,
    model_cache,
    set_model_cache_size,
)
from HCCInterventionalAILib.models.loading import resolve_card  # noqa: E402
from HCCInterventionalAILib.models.networks import build_network  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_model_cache():
    clear_model_cache()
    size = model_cache().maxsize
    yield
    set_model_cache_size(size)
    clear_model_cache()


@pytest.fixture(scope="module")
def unet(tmp_path_factory):
    """A seeded tiny UNet, an input batch, its direct output, and its state-dict and TorchScript files."""
    folder = tmp_path_factory.mktemp("unet")
    network = tiny_unet(seed=0)
    batch = torch.randn(2, 1, 16, 16, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.trace's deprecation and tracer warnings
        expected = network(batch)
        torch.jit.trace(network, batch).save(str(folder / "tiny.ts"))
    return {"network": network, "batch": batch, "expected": expected, "folder": folder,
            "state_dict": save_state_dict(network, folder / "tiny.pt"), "torchscript": folder / "tiny.ts"}


def _card(tmp_path: Path, path: Path, **overrides):
    return load_card(write_card(tmp_path / "cards", card_dict([file_entry(path)], **overrides)))


def test_state_dict_loads_with_the_declared_network(tmp_path, unet):
    model = load_model(_card(tmp_path, unet["state_dict"]), device="cpu", cache_dir=tmp_path / "cache")
    assert not model.network.training
    torch.testing.assert_close(model(unet["batch"]), unet["expected"], rtol=1e-5, atol=1e-6)
    assert model.provenance["files"] == {"tiny.pt": file_entry(unet["state_dict"])["sha256"]}


def test_torchscript_and_state_dict_agree_on_cpu(tmp_path, unet):
    from_state = load_model(_card(tmp_path, unet["state_dict"]), device="cpu", cache_dir=tmp_path / "cache")
    scripted = load_model(_card(tmp_path, unet["torchscript"], id="tiny-ts", format="torchscript", network=None),
                          device="cpu", cache_dir=tmp_path / "cache")
    assert isinstance(scripted.network, torch.jit.ScriptModule)
    torch.testing.assert_close(scripted(unet["batch"]), from_state(unet["batch"]), rtol=1e-5, atol=1e-6)


def test_onnx_agrees_with_torch(tmp_path, unet):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    path = unet["folder"] / "tiny.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(unet["network"], (unet["batch"][:1],), str(path), dynamo=False, input_names=["image"],
                              output_names=["logits"], dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}})
        except Exception as error:  # pragma: no cover - depends on the installed exporter
            pytest.skip(f"ONNX export is not available here: {error}")
    model = load_model(_card(tmp_path, path, id="tiny-onnx", format="onnx", network=None), device="cpu",
                       cache_dir=tmp_path / "cache")
    assert model.is_onnx
    torch.testing.assert_close(model(unet["batch"]), unet["expected"], rtol=1e-4, atol=1e-5)


class _SystemPayload:
    """Unpickling this runs a shell command (the classic malicious-checkpoint trick)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


class _ExecPayload:
    """Unpickling this executes Python code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (exec, (f"open({str(self.marker)!r}, 'w').close()",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
@pytest.mark.parametrize("payload_class", [_SystemPayload, _ExecPayload])
@pytest.mark.parametrize("container", ["torch.save", "pickle.dump"])
def test_malicious_pickle_is_refused_without_running(tmp_path, payload_class, container):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    payload = {"weight": torch.zeros(3), "extra": payload_class(marker)}
    if container == "torch.save":
        torch.save(payload, path)
    else:
        path.write_bytes(pickle.dumps(payload))
    with pytest.raises(UnsafeModelError, match="Refused to load evil.pt"):
        load_model(_card(tmp_path, path), device="cpu", cache_dir=tmp_path / "cache")
    assert not marker.exists()
    control = tmp_path / "control"  # the payload is real: plain unpickling runs it
    pickle.loads(pickle.dumps(payload_class(control)))
    assert control.exists()


def test_corrupt_files_give_a_clear_error(tmp_path, unet):
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(unet["state_dict"].read_bytes()[:500])
    with pytest.raises(ModelLoadError, match="corrupt or not a PyTorch checkpoint"):
        load_model(_card(tmp_path, truncated), device="cpu", cache_dir=tmp_path / "cache")
    garbage = tmp_path / "garbage.ts"
    garbage.write_bytes(b"this is not a TorchScript archive" * 10)
    with pytest.raises(ModelLoadError, match="not a TorchScript archive"):
        load_model(_card(tmp_path, garbage, id="bad-ts", format="torchscript", network=None), device="cpu",
                   cache_dir=tmp_path / "cache")


def test_weights_not_fitting_the_network_are_reported(tmp_path, unet):
    card = _card(tmp_path, unet["state_dict"], network={"name": "UNet", "args": {
        "spatial_dims": 3, "in_channels": 1, "out_channels": 3, "channels": [8, 16], "strides": [2],
        "num_res_units": 1}})
    with pytest.raises(ModelLoadError, match="do not fit the network"):
        load_model(card, device="cpu", cache_dir=tmp_path / "cache")


def test_network_allow_list_and_download_arguments():
    with pytest.raises(UnsafeModelError, match="not an allowed network"):
        build_network("Transformer", {})
    with pytest.raises(UnsafeModelError, match="would download weights"):
        build_network("DenseNet121", {"spatial_dims": 3, "in_channels": 1, "out_channels": 2, "pretrained": True})
    with pytest.raises(ModelCardError, match="network.args"):
        build_network("UNet", {"spatial_dims": 3, "no_such_argument": 1})
    network = build_network("monai.networks.nets.BasicUNet", {"spatial_dims": 2, "features": [4, 4, 8, 8, 16, 4]})
    assert type(network).__name__ == "BasicUNet"


def test_lru_cache_returns_the_same_object_and_evicts(tmp_path, unet):
    card = _card(tmp_path, unet["state_dict"])
    first = load_model(card, device="cpu", cache_dir=tmp_path / "cache")
    assert load_model(card, device="cpu", cache_dir=tmp_path / "cache") is first
    set_model_cache_size(1)
    other = _card(tmp_path, unet["torchscript"], id="tiny-ts", format="torchscript", network=None)
    load_model(other, device="cpu", cache_dir=tmp_path / "cache")
    assert len(model_cache()) == 1
    assert load_model(card, device="cpu", cache_dir=tmp_path / "cache") is not first  # evicted, loaded again
    assert load_model(card, device="cpu", cache_dir=tmp_path / "cache", use_cache=False) is not first


def test_model_is_found_by_id_in_the_registry(tmp_path, unet, monkeypatch):
    write_card(tmp_path / "cards", card_dict([file_entry(unet["state_dict"])], version="2.0.0"))
    monkeypatch.setenv("HCCAI_MODEL_CARDS", str(tmp_path / "cards"))
    assert resolve_card("tiny-unet").version == "2.0.0"
    model = load_model("tiny-unet@2.0.0", device="cpu", cache_dir=tmp_path / "cache")
    torch.testing.assert_close(model(unet["batch"]), unet["expected"], rtol=1e-5, atol=1e-6)


# -- MONAI bundles --------------------------------------------------------------------------------------

def _bundle_zip(tmp_path: Path, config: dict, weights: bytes) -> Path:
    path = tmp_path / "tiny_bundle.zip"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("tiny_bundle/configs/inference.json", json.dumps(config))
        archive.writestr("tiny_bundle/configs/metadata.json", json.dumps({"version": "0.1.0"}))
        archive.writestr("tiny_bundle/models/model.pt", weights)
    path.write_bytes(buffer.getvalue())
    return path


def _bundle_config(**network_changes) -> dict:
    network = {"_target_": "UNet", "spatial_dims": 3, "in_channels": 1, "out_channels": "@num_classes",
               "channels": "@channels", "strides": [2], "num_res_units": 1}
    network.update(network_changes)
    return {"num_classes": 3, "channels": [4, 8], "network_def": network,
            "inferer": {"_target_": "SlidingWindowInferer", "roi_size": [16, 16, 16]}}


def test_monai_bundle_loads_network_def_and_weights(tmp_path, unet):
    archive = _bundle_zip(tmp_path, _bundle_config(), unet["state_dict"].read_bytes())
    card = load_card(write_card(tmp_path / "cards", card_dict(
        [file_entry(archive, archive="zip")], id="tiny-bundle", format="monai_bundle", network=None)))
    model = load_model(card, device="cpu", cache_dir=tmp_path / "cache")
    torch.testing.assert_close(model(unet["batch"]), unet["expected"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("change", [
    {"act": "$__import__('os').system('touch {marker}') or 'PRELU'"},
    {"_target_": "torch.nn.Identity"},
    {"_requires_": "$__import__('os').system('touch {marker}')"},
])
def test_monai_bundle_code_is_refused(tmp_path, unet, change):
    marker = tmp_path / "pwned"
    change = {key: value.format(marker=marker) for key, value in change.items()}
    archive = _bundle_zip(tmp_path, _bundle_config(**change), unet["state_dict"].read_bytes())
    card = load_card(write_card(tmp_path / "cards", card_dict(
        [file_entry(archive, archive="zip")], id="evil-bundle", format="monai_bundle", network=None)))
    with pytest.raises(UnsafeModelError):
        load_model(card, device="cpu", cache_dir=tmp_path / "cache")
    assert not marker.exists()
