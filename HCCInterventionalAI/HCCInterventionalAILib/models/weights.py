"""Loading tensors from PyTorch checkpoint files without executing code.

``torch.load(..., weights_only=True)`` only rebuilds tensors and plain containers; a pickle that names any
other Python callable (the way malicious checkpoints run code, e.g. a ``__reduce__`` that calls
``os.system``) is refused before that callable is touched, and reported as :class:`~.errors.UnsafeModelError`.
PyTorch releases before 2.6 had a bypass of this mode (CVE-2025-32434), so they are refused too.
"""

from __future__ import annotations

import argparse
import pickle
import pickletools
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .dependencies import import_torch
from .errors import ModelLoadError, UnsafeModelError

__all__ = ["MINIMUM_SAFE_TORCH", "SAFE_GLOBALS", "load_state_dict"]

#: Oldest PyTorch whose ``weights_only=True`` loading has no known code-execution bypass.
MINIMUM_SAFE_TORCH = (2, 6)
_WRAPPER_KEYS = ("state_dict", "model", "model_state_dict", "network", "net")
#: Plain-data classes a checkpoint may hold besides tensors: ``argparse.Namespace`` (attributes only, no code), in
#: which training scripts such as ldct-benchmark's store their arguments next to ``model_state_dict`` (its hub
#: loader allows exactly this class: ``torch.serialization.add_safe_globals([argparse.Namespace])``).
SAFE_GLOBALS = (argparse.Namespace,)


_CODE_OPCODES = frozenset({"GLOBAL", "STACK_GLOBAL", "INST", "OBJ", "REDUCE", "NEWOBJ", "NEWOBJ_EX", "BUILD"})


def _pickle_names_callables(path: Path) -> bool:
    """True when ``path`` is a bare pickle (not a zip checkpoint) whose first object imports or calls something."""
    if zipfile.is_zipfile(path):
        return False
    try:
        with open(path, "rb") as stream:
            return any(opcode.name in _CODE_OPCODES for opcode, _arg, _pos in pickletools.genops(stream))
    except Exception:  # not a pickle at all: garbage
        return False


def _torch_version(torch: Any) -> tuple[int, int]:
    match = re.match(r"(\d+)\.(\d+)", torch.__version__)
    return (int(match.group(1)), int(match.group(2))) if match else (0, 0)


def _is_tensor_mapping(value: Any, torch: Any) -> bool:
    return isinstance(value, Mapping) and bool(value) and all(isinstance(v, torch.Tensor) for v in value.values())


def _unwrap(payload: Any, key: str | None, path: Path, torch: Any) -> dict[str, Any]:
    if key is not None:
        if not isinstance(payload, Mapping) or key not in payload:
            raise ModelLoadError(f"{path.name} has no entry '{key}' (state_dict_key in the model card)")
        payload = payload[key]
    elif not _is_tensor_mapping(payload, torch) and isinstance(payload, Mapping):
        for candidate in _WRAPPER_KEYS:
            if _is_tensor_mapping(payload.get(candidate), torch):
                payload = payload[candidate]
                break
    if not _is_tensor_mapping(payload, torch):
        raise ModelLoadError(
            f"{path.name} does not hold a state dict (a mapping of names to tensors); if the tensors are under a "
            "key of the checkpoint, name it in the card's state_dict_key"
        )
    state = dict(payload)
    if all(name.startswith("module.") for name in state):  # saved from DataParallel
        state = {name[len("module."):]: tensor for name, tensor in state.items()}
    return state


def load_state_dict(path: str | Path, key: str | None = None) -> dict[str, Any]:
    """Read a state dict (names → tensors, on the CPU) with ``weights_only=True``.

    Args:
        path: a ``torch.save`` file.
        key: entry of the checkpoint holding the tensors; by default the file itself, or the first of
            ``state_dict``/``model``/``model_state_dict``/``network``/``net`` that holds tensors.

    Returns:
        The state dict (a ``module.`` prefix from DataParallel is removed).

    Raises:
        UnsafeModelError: the file would execute code or construct arbitrary objects when unpickled, or
            this PyTorch is too old to load it safely.
        ModelLoadError: the file is corrupt or holds no state dict.
    """
    torch = import_torch()
    path = Path(path)
    if _torch_version(torch) < MINIMUM_SAFE_TORCH:
        raise UnsafeModelError(
            f"PyTorch {torch.__version__} cannot load weights safely (weights_only bypass CVE-2025-32434); "
            f"install PyTorch {'.'.join(map(str, MINIMUM_SAFE_TORCH))} or newer"
        )
    try:
        with torch.serialization.safe_globals(list(SAFE_GLOBALS)):
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        reason = [line.strip() for line in str(error).splitlines() if line.strip()]
        detail = next((line for line in reason if "GLOBAL" in line), "")
        if not detail and not _pickle_names_callables(path):
            raise ModelLoadError(f"{path.name} is corrupt or not a PyTorch checkpoint ({' '.join(reason[-1:])})") from error
        raise UnsafeModelError(
            f"Refused to load {path.name}: it contains pickled Python objects other than tensors, which could run "
            f"code when loaded ({detail[:300] or 'a pickle that imports or calls Python objects'}). Only plain state dicts are accepted: save "
            "model.state_dict(), or export TorchScript/ONNX."
        ) from error
    except (RuntimeError, EOFError, ValueError, OSError, AttributeError, ImportError, IndexError) as error:
        raise ModelLoadError(f"{path.name} is corrupt or not a PyTorch checkpoint: {error}") from error
    return _unwrap(payload, key, path, torch)
