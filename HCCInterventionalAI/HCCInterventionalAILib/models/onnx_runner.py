"""Running an ONNX model with onnxruntime behind the same tensor-in, tensor-out call as a torch network."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from .dependencies import import_onnxruntime, import_torch
from .errors import ModelLoadError

__all__ = ["OnnxRunner"]

logger = logging.getLogger(__name__)


class OnnxRunner:
    """Callable wrapper of an ``onnxruntime.InferenceSession`` taking and returning torch tensors.

    Args:
        path: a verified ``.onnx`` file.
        use_cuda: use onnxruntime's CUDA provider when it is installed (``onnxruntime-gpu``).

    Raises:
        ModelLoadError: the file is not a valid ONNX model.
    """

    def __init__(self, path: Path, use_cuda: bool = False) -> None:
        ort = import_onnxruntime()
        available = ort.get_available_providers()
        providers = ["CPUExecutionProvider"]
        if use_cuda and "CUDAExecutionProvider" in available:
            providers.insert(0, "CUDAExecutionProvider")
        try:
            self.session = ort.InferenceSession(str(path), providers=providers)
        except Exception as error:  # onnxruntime raises its own InvalidProtobuf/Fail/InvalidGraph types
            raise ModelLoadError(f"{Path(path).name} is not a valid ONNX model: {error}") from error
        inputs = self.session.get_inputs()
        if len(inputs) != 1:
            raise ModelLoadError(f"{Path(path).name} has {len(inputs)} inputs; one image input is supported")
        self.input_name = inputs[0].name
        batch = inputs[0].shape[0] if inputs[0].shape else None
        self.fixed_batch = batch if isinstance(batch, int) else None
        self.providers = self.session.get_providers()
        logger.info("ONNX model %s runs with %s", Path(path).name, ", ".join(self.providers))

    def _run(self, array: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: array})[0]

    def __call__(self, batch: Any) -> Any:
        torch = import_torch()
        array = batch.detach().to("cpu", torch.float32).numpy()
        if self.fixed_batch is not None and array.shape[0] != self.fixed_batch:
            step = self.fixed_batch
            output = np.concatenate([self._run(array[i:i + step]) for i in range(0, array.shape[0], step)])
        else:
            output = self._run(array)
        return torch.from_numpy(np.ascontiguousarray(output)).to(batch.device)
