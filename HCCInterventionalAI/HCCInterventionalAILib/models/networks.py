"""Building a MONAI network from a card's ``{"name": ..., "args": {...}}`` spec, from an allow-list only.

Only classes of ``monai.networks.nets`` named here can be built, so a card (or a bundle config) cannot make
the library instantiate an arbitrary Python object. Arguments that would download pretrained weights at
construction time are refused: weights come from the card's verified files.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .dependencies import import_monai
from .errors import ModelCardError, UnsafeModelError

__all__ = ["ALLOWED_NETWORKS", "PROJECT_NETWORKS", "build_network"]

#: ``monai.networks.nets`` classes a card may name (segmentation, classification, regression, translation).
ALLOWED_NETWORKS: frozenset[str] = frozenset({
    "AttentionUnet", "AutoEncoder", "BasicUNet", "BasicUNetPlusPlus", "Classifier", "DenseNet121", "DenseNet169",
    "DenseNet201", "DynUNet", "EfficientNetBN", "FlexibleUNet", "HighResNet", "MedNeXt", "Regressor", "ResNet",
    "SEResNet50", "SegResNet", "SegResNetDS", "SwinUNETR", "UNETR", "UNet", "VNet", "ViT",
})


#: Networks written in this package (published architectures MONAI lacks) a card may name: name -> builder
#: ``"module:function"`` (relative to ``HCCInterventionalAILib``), called with the card's ``network.args``.
PROJECT_NETWORKS: dict[str, str] = {
    "REDCNN": "enhancement.ldct_networks:build_redcnn",
    "CNN10": "enhancement.ldct_networks:build_cnn10",
    "LDCTResNet": "enhancement.ldct_networks:build_ldct_resnet",
    "WGANVGGGenerator": "enhancement.ldct_networks:build_wganvgg_generator",
    "QAE": "enhancement.ldct_networks:build_qae",
    "TransCT": "enhancement.ldct_transct:build_transct",
    "TrainableBilateralDenoiser": "enhancement.bilateral_filter:build_bilateral_denoiser",
}


def _build_project_network(name: str, args: dict[str, Any], source: str) -> Any:
    import importlib

    from .dependencies import import_torch

    import_torch()
    module_name, function_name = PROJECT_NETWORKS[name].split(":")
    builder = getattr(importlib.import_module(f"HCCInterventionalAILib.{module_name}"), function_name)
    try:
        return builder(**args)
    except (TypeError, ValueError) as error:
        raise ModelCardError(source, [("network.args", f"cannot build {name}: {error}")]) from error


def _downloads_weights(name: str, value: Any) -> bool:
    lowered = name.lower()
    return bool(value) and ("pretrain" in lowered or "url" in lowered or lowered.endswith("_path"))


def build_network(name: str, args: Mapping[str, Any] | None = None, *, source: str = "network") -> Any:
    """Instantiate ``monai.networks.nets.<name>(**args)`` for an allow-listed ``name``, or a network of
    :data:`PROJECT_NETWORKS`.

    Args:
        name: class name, optionally prefixed with ``monai.networks.nets.``.
        args: constructor keyword arguments (plain JSON values).
        source: where the spec came from, for error messages (e.g. ``"network"`` or a bundle config path).

    Returns:
        The network (a ``torch.nn.Module``) with random weights, on the CPU.

    Raises:
        UnsafeModelError: the class is not on the allow-list or an argument would download weights.
        ModelCardError: the arguments do not fit the class's constructor.
    """
    if name in PROJECT_NETWORKS:
        return _build_project_network(name, dict(args or {}), source)
    short = name.removeprefix("monai.networks.nets.")
    if short not in ALLOWED_NETWORKS:
        raise UnsafeModelError(
            f"{source}: '{name}' is not an allowed network class; allowed are monai.networks.nets."
            f"{{{', '.join(sorted(ALLOWED_NETWORKS))}}}"
        )
    args = dict(args or {})
    for key, value in args.items():
        if _downloads_weights(key, value):
            raise UnsafeModelError(
                f"{source}: argument '{key}={value!r}' would download weights while building the network; "
                "give the weights as a verified file in the model card instead"
            )
    nets = import_monai().networks.nets
    network_class = getattr(nets, short, None)
    if network_class is None:
        raise ModelCardError(source, [("network.name", f"this MONAI version has no network '{short}'")])
    try:
        return network_class(**args)
    except (TypeError, ValueError, AssertionError, KeyError) as error:
        raise ModelCardError(source, [("network.args", f"cannot build {short}: {error}")]) from error
