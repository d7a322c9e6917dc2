"""Loading a MONAI bundle (``configs/`` + ``models/``) without evaluating its Python expressions.

MONAI bundle configs may hold ``$``-expressions (Python evaluated at parse time) and ``_target_`` entries
naming any importable class. We use :class:`monai.bundle.ConfigParser` only to read the config and resolve
``@`` references, with expressions left unevaluated and nothing instantiated; the network definition must
then be plain values naming an allow-listed MONAI network (see :mod:`.networks`). Weights are read with
``weights_only=True`` (:mod:`.weights`), or as TorchScript when the weights file is a ``.ts`` archive.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .card import BundleSpec
from .dependencies import import_monai
from .errors import ModelLoadError, UnsafeModelError
from .networks import build_network

__all__ = ["build_bundle_network", "find_bundle_root", "read_network_definition"]

_IGNORED_KEYS = {"_target_", "_desc_"}


def find_bundle_root(folder: Path, spec: BundleSpec) -> Path:
    """The bundle folder: ``spec.root`` if given, else ``folder`` or its single sub-folder holding the config."""
    if spec.root:
        return folder / spec.root
    candidates = [folder, *(sub for sub in sorted(folder.iterdir()) if sub.is_dir())]
    for candidate in candidates:
        for inner in (candidate, *(sub for sub in sorted(candidate.iterdir()) if sub.is_dir())):
            if (inner / spec.config).is_file():
                return inner
    raise ModelLoadError(f"No MONAI bundle config '{spec.config}' found under {folder}")


def _plain(value: Any, where: str) -> Any:
    """Convert resolved config items to plain values, refusing expressions and nested instantiations."""
    from monai.bundle.config_item import ConfigComponent, ConfigExpression, ConfigItem

    if isinstance(value, ConfigExpression):
        raise UnsafeModelError(f"{where} is a Python expression ({value.get_config()!r}); refusing to evaluate it")
    if isinstance(value, ConfigComponent):
        raise UnsafeModelError(f"{where} instantiates an object ({value.get_config()!r}); only plain values are allowed")
    if isinstance(value, ConfigItem):
        return _plain(value.get_config(), where)
    if isinstance(value, dict):
        return {key: _plain(item, f"{where}.{key}") for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(item, f"{where}[{index}]") for index, item in enumerate(value))
    if isinstance(value, str) and value.startswith(("$", "%", "@")):
        raise UnsafeModelError(f"{where} is an unresolved expression or reference ({value!r})")
    return value


def read_network_definition(root: Path, spec: BundleSpec) -> tuple[str, dict[str, Any]]:
    """Read the bundle's network definition as ``(class name, constructor arguments)``.

    Raises:
        UnsafeModelError: the definition evaluates Python or instantiates anything beyond the network.
        ModelLoadError: the config is missing, unreadable or has no such network key.
    """
    monai = import_monai()
    config_path = root / spec.config
    parser = monai.bundle.ConfigParser()
    try:
        parser.read_config(config_path)
    except Exception as error:  # json/yaml errors, missing file
        raise ModelLoadError(f"Cannot read the bundle config {config_path}: {error}") from error
    where = f"{config_path.name}:{spec.network_key}"
    raw = parser.get(spec.network_key)
    if not isinstance(raw, dict) or "_target_" not in raw:
        raise ModelLoadError(f"{where} is missing or is not a network definition with a _target_")
    if any(key.startswith("_") and key not in _IGNORED_KEYS for key in raw):
        raise UnsafeModelError(f"{where} uses special keys {sorted(raw)}; only _target_ and arguments are allowed")
    try:
        resolved = parser.get_parsed_content(spec.network_key, instantiate=False, eval_expr=False)
    except Exception as error:  # unresolvable references
        raise ModelLoadError(f"Cannot resolve {where}: {error}") from error
    if hasattr(resolved, "get_config"):  # the network definition itself is the one component allowed
        resolved = resolved.get_config()
    definition = _plain(resolved, where)
    target = definition.pop("_target_")
    definition.pop("_desc_", None)
    if not isinstance(target, str):
        raise UnsafeModelError(f"{where}._target_ must be a class name, got {target!r}")
    return target, definition


def build_bundle_network(root: Path, spec: BundleSpec) -> Any:
    """Build the (untrained) network the bundle defines, from the allow-list."""
    name, args = read_network_definition(root, spec)
    return build_network(name, args, source=f"{root.name}/{spec.config}:{spec.network_key}")
