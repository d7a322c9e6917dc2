"""The common model-loading library: every AI feature describes, fetches, verifies, loads and runs its
networks through here.

- :mod:`.card` — model cards (JSON/YAML, schema-validated) → :class:`ModelCard`
- :mod:`.registry` — discovering cards: :func:`list_models`, :func:`get_card`
- :mod:`.fetch` — download on request into a verified cache: :func:`fetch_model`
- :mod:`.loading` — safe loading into a callable :class:`LoadedModel`: :func:`load_model` (LRU-cached)
- :mod:`HCCInterventionalAILib.device` — :func:`select_device` (auto: CUDA → MPS → CPU, reason logged), mixed
  precision (re-exported here; the old path :mod:`.device` still works)
- :mod:`.inference` — memory-aware :func:`sliding_window_predict` with progress and cancellation
- :mod:`.segment` — the 3D segmentation runner :func:`segment_volume`

Importing this package imports neither torch, MONAI nor onnxruntime; the functions that need them do.
"""

from __future__ import annotations

from .cache import clear_model_cache, model_cache, set_model_cache_size
from .card import ModelCard, ModelFile, load_card
from .device import autocast, select_device
from .errors import (
    ChecksumMismatchError,
    DeviceUnavailableError,
    MissingDependencyError,
    ModelCardError,
    ModelDownloadError,
    ModelError,
    ModelInputError,
    ModelLoadError,
    UnknownModelError,
    UnsafeModelError,
)
from .fetch import default_cache_dir, fetch_model, is_fetched
from .inference import choose_sw_batch_size, sliding_window_predict
from .loading import LoadedModel, load_model
from .registry import ModelRegistry, get_card, list_models
from .segment import SegmentationOutput, segment_volume

__all__ = [
    "ChecksumMismatchError",
    "DeviceUnavailableError",
    "LoadedModel",
    "MissingDependencyError",
    "ModelCard",
    "ModelCardError",
    "ModelDownloadError",
    "ModelError",
    "ModelFile",
    "ModelInputError",
    "ModelLoadError",
    "ModelRegistry",
    "SegmentationOutput",
    "UnknownModelError",
    "UnsafeModelError",
    "autocast",
    "choose_sw_batch_size",
    "clear_model_cache",
    "default_cache_dir",
    "fetch_model",
    "get_card",
    "is_fetched",
    "list_models",
    "load_card",
    "load_model",
    "model_cache",
    "segment_volume",
    "select_device",
    "set_model_cache_size",
    "sliding_window_predict",
]
