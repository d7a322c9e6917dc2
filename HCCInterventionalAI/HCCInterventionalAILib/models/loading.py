"""Loading a model described by a card, from verified files only, into a callable :class:`LoadedModel`.

Formats: TorchScript (``torch.jit.load``), state dict + allow-listed MONAI network (``weights_only=True``),
MONAI bundle (config read without evaluating expressions, weights as a state dict or TorchScript) and ONNX
(onnxruntime). Every file is fetched and SHA-256-verified by :func:`~.fetch.fetch_model` first.

Example:
    >>> model = load_model(get_card("liver-ct"), device="auto")  # doctest: +SKIP
    >>> logits = model(batch)  # (N, C, D, H, W) tensor in, logits out  # doctest: +SKIP
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..device import autocast, select_device
from ..progress import Progress, ProgressCallback, as_progress
from .bundle import build_bundle_network, find_bundle_root
from .cache import model_cache
from .card import ModelCard
from .dependencies import import_torch
from .errors import ModelLoadError, UnsafeModelError
from .fetch import fetch_model, model_directory
from .networks import build_network
from .onnx_runner import OnnxRunner
from .weights import load_state_dict

__all__ = ["LoadedModel", "load_model", "resolve_card"]

logger = logging.getLogger(__name__)


@dataclass(eq=False)
class LoadedModel:
    """A ready-to-run model: call it with an ``(N, C, *spatial)`` float tensor to get its raw outputs.

    Inference runs under ``torch.no_grad`` and, on CUDA when the card allows it, mixed precision;
    outputs are returned as float32 on :attr:`device`.

    Attributes:
        card: the model card.
        network: the ``torch.nn.Module`` (or :class:`~.onnx_runner.OnnxRunner`).
        device: the ``torch.device`` inputs are moved to.
        folder: the model's verified cache folder.
    """

    card: ModelCard
    network: Any
    device: Any
    folder: Path
    mixed_precision: bool = True
    is_onnx: bool = field(default=False)

    def __call__(self, batch: Any) -> Any:
        torch = import_torch()
        with torch.no_grad(), autocast(self.device, self.mixed_precision and not self.is_onnx):
            output = self.network(batch.to(self.device))
        return output.float() if isinstance(output, torch.Tensor) else output

    @property
    def provenance(self) -> dict[str, Any]:
        """What produced a result: model id, version, format, file checksums, device and library versions."""
        torch = import_torch()
        return {
            "model_id": self.card.id,
            "model_version": self.card.version,
            "format": self.card.format,
            "files": {f.filename: f.sha256 for f in self.card.files},
            "device": str(self.device),
            "torch": torch.__version__,
            "research_only": self.card.research_only,
        }


def resolve_card(card: ModelCard | str) -> ModelCard:
    """A card as given, or looked up by id (``"liver-ct"`` or ``"liver-ct@1.0.0"``) in the registry."""
    if isinstance(card, ModelCard):
        return card
    from .registry import get_card

    model_id, _, version = str(card).partition("@")
    return get_card(model_id, version or None)


def _inside(folder: Path, relative: str) -> Path:
    path = (folder / relative).resolve()
    if not path.is_relative_to(folder.resolve()):
        raise UnsafeModelError(f"'{relative}' points outside the model folder {folder}")
    if not path.exists():
        raise ModelLoadError(f"The model file '{relative}' is not in {folder}; check the card's 'weights'")
    return path


def _load_torchscript(path: Path, device: Any) -> Any:
    torch = import_torch()
    try:
        with warnings.catch_warnings():  # TorchScript is deprecated upstream but remains a supported format here
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.load(str(path), map_location=device)
    except (RuntimeError, ValueError, OSError) as error:
        raise ModelLoadError(f"{path.name} is corrupt or not a TorchScript archive: {error}") from error


def _with_weights(network: Any, state: dict[str, Any], path: Path) -> Any:
    result = network.load_state_dict(state, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ModelLoadError(
            f"The weights in {path.name} do not fit the network: {len(result.missing_keys)} missing "
            f"(e.g. {result.missing_keys[:3]}), {len(result.unexpected_keys)} unexpected "
            f"(e.g. {result.unexpected_keys[:3]}); check the card's network name and args"
        )
    return network


def _load_network(card: ModelCard, folder: Path, device: Any) -> Any:
    if card.format == "torchscript":
        return _load_torchscript(_inside(folder, card.weights_path), device)
    if card.format == "state_dict":
        path = _inside(folder, card.weights_path)
        network = build_network(card.network.name, card.network.args, source=f"model card {card.key}")
        try:
            return _with_weights(network, load_state_dict(path, card.state_dict_key), path).to(device)
        except RuntimeError as error:  # shape mismatches
            raise ModelLoadError(f"The weights in {path.name} do not fit the network: {error}") from error
    if card.format == "monai_bundle":
        spec = card.bundle
        root = find_bundle_root(folder / card.weights_path if card.weights else folder, spec)
        path = _inside(root, spec.weights)
        if path.suffix == ".ts":
            return _load_torchscript(path, device)
        network = build_bundle_network(root, spec)
        try:
            return _with_weights(network, load_state_dict(path, card.state_dict_key), path).to(device)
        except RuntimeError as error:
            raise ModelLoadError(f"The weights in {path.name} do not fit the bundle network: {error}") from error
    if card.format == "onnx":
        return OnnxRunner(_inside(folder, card.weights_path), use_cuda=str(device).startswith("cuda"))
    raise ModelLoadError(f"Unknown model format '{card.format}'")  # pragma: no cover - the schema guards it


def _load(card: ModelCard, device: Any, cache_dir: str | Path | None, progress: Progress) -> LoadedModel:
    torch = import_torch()
    folder = fetch_model(card, cache_dir=cache_dir, progress=progress.sub(0.0, 0.9))
    progress.update(0.9, f"Loading {card.name}")
    is_onnx = card.format == "onnx"
    network = _load_network(card, folder, device)
    if isinstance(network, torch.nn.Module):
        network.eval()
    # ONNX runs where onnxruntime's provider is; its tensors are exchanged on the CPU.
    model_device = torch.device("cpu") if is_onnx else device
    logger.info("Loaded model %s on %s", card.summary(), model_device)
    progress.update(1.0, f"Loaded {card.name}")
    return LoadedModel(card, network, model_device, folder, card.inference.mixed_precision, is_onnx)


def load_model(card: ModelCard | str, *, device: Any = "auto", cache_dir: str | Path | None = None,
               use_cache: bool = True, progress: Progress | ProgressCallback | None = None) -> LoadedModel:
    """Fetch (if needed), verify and load a model, reusing it from the LRU cache when already loaded.

    Args:
        card: the model card, or its id (``"id"`` / ``"id@version"``) in the registry.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"mps"`` or a ``torch.device``.
        cache_dir: download cache folder; default :func:`~.fetch.default_cache_dir`.
        use_cache: keep/reuse the loaded model in the process-wide LRU cache.
        progress: progress and cancellation for the download and loading.

    Returns:
        The loaded model; the same object for the same card, version and device while it stays cached.

    Raises:
        ChecksumMismatchError: a file does not match its SHA-256.
        UnsafeModelError: a file or config would execute code, or the network is not allow-listed.
        ModelLoadError: a file is corrupt or does not fit the declared network.
        MissingDependencyError: torch/MONAI/onnxruntime is not installed.
    """
    card = resolve_card(card)
    device = select_device(device)
    progress = as_progress(progress)
    if not use_cache:
        return _load(card, device, cache_dir, progress)
    folder = str(model_directory(card, cache_dir).resolve())  # another cache folder means other files
    key = (card.id, card.version, str(device), tuple(f.sha256 for f in card.files), folder)
    return model_cache().get_or_load(key, lambda: _load(card, device, cache_dir, progress))
