"""Model cards: what a network is, where its files are, how to feed it and how far to trust it.

A card is a JSON or YAML file validated against ``Resources/ModelCards/model-card.schema.json`` (see the
README there for how to write one). :func:`load_card` returns a frozen :class:`ModelCard`; every problem is
reported at once in a :class:`~.errors.ModelCardError` naming the offending field (``files[0].sha256``).

Example:
    >>> card = load_card("Resources/ModelCards/liver-ct.json")  # doctest: +SKIP
    >>> card.id, card.task, card.input.spacing
    ('liver-ct', 'segmentation', (1.5, 1.5, 2.0))
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import ModelCardError

__all__ = [
    "ARCHIVE_SUFFIXES",
    "BundleSpec",
    "ChannelSpec",
    "InferenceSpec",
    "InputNormalisation",
    "InputSpec",
    "IntensitySpec",
    "ModelCard",
    "ModelFile",
    "NetworkSpec",
    "OutputLabel",
    "OutputSpec",
    "TrainingInfo",
    "builtin_cards_directory",
    "card_from_dict",
    "load_card",
    "schema_path",
]

#: Suffix of each archive kind, stripped from the filename to name the folder it is unpacked into.
ARCHIVE_SUFFIXES = {"zip": ".zip", "tar": ".tar", "tar.gz": ".tar.gz", "tgz": ".tgz", "tar.bz2": ".tar.bz2",
                    "tar.xz": ".tar.xz"}


def builtin_cards_directory() -> Path:
    """The folder of the cards shipped with the extension (and of the schema).

    ``<repo>/Resources/ModelCards`` in a checkout or an editable install; in a packaged Slicer extension,
    ``Resources/ModelCards`` beside the library package (where CMake installs the module's resources).
    """
    here = Path(__file__).resolve()
    candidates = [here.parents[3] / "Resources" / "ModelCards", here.parents[2] / "Resources" / "ModelCards"]
    return next((c for c in candidates if (c / "model-card.schema.json").is_file()), candidates[0])


def schema_path() -> Path:
    """Location of the model-card JSON Schema, ``model-card.schema.json`` in :func:`builtin_cards_directory`."""
    return builtin_cards_directory() / "model-card.schema.json"


@functools.lru_cache(maxsize=1)
def _validator() -> Any:
    import jsonschema

    path = schema_path()
    if not path.is_file():
        raise FileNotFoundError(f"The model-card schema is missing: {path} (a broken installation?)")
    schema = json.loads(path.read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@dataclass(frozen=True)
class ModelFile:
    """One downloadable file of a model (weights, bundle archive, ...)."""

    url: str
    sha256: str
    filename: str
    size: int | None = None
    archive: str | None = None
    extract_to: str | None = None
    digest_algorithm: str = "sha256"
    digest: str = ""

    @property
    def publisher_digest(self) -> tuple[str, str]:
        """(algorithm, hex value) the publisher gave: the card's ``digest``, else its SHA-256."""
        return (self.digest_algorithm, self.digest) if self.digest else ("sha256", self.sha256)

    @property
    def target_name(self) -> str:
        """Name of what ends up in the model's cache folder: the file, or the folder an archive unpacks into."""
        if self.archive is None:
            return self.filename
        if self.extract_to:
            return self.extract_to
        suffix = ARCHIVE_SUFFIXES[self.archive]
        stem = self.filename[: -len(suffix)] if self.filename.lower().endswith(suffix) else self.filename
        return stem or self.filename


@dataclass(frozen=True)
class NetworkSpec:
    """A ``monai.networks.nets`` class name (allow-listed) and its constructor arguments."""

    name: str
    args: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BundleSpec:
    """Where the pieces of a MONAI bundle are, relative to the bundle folder."""

    root: str | None = None
    config: str = "configs/inference.json"
    network_key: str = "network_def"
    weights: str = "models/model.pt"


@dataclass(frozen=True)
class ChannelSpec:
    """One input channel (e.g. one CT phase)."""

    name: str
    phase: str | None = None
    modality: str | None = None


@dataclass(frozen=True)
class IntensitySpec:
    """Intensity preprocessing: clip to ``window``, then normalise.

    ``range``: ``(x - lo) / (hi - lo) * (b - a) + a`` with window (lo, hi) and output_range (a, b);
    ``minmax``: ``(x - min(x)) / (max(x) - min(x)) * (b - a) + a`` over the whole image (MONAI ``ScaleIntensity``);
    ``zscore``: ``(x - mean(x)) / std(x)`` over the whole image; ``fixed``: ``(x - mean) / std`` with the
    card's values; ``none``: unchanged.
    """

    window: tuple[float, float] | None = None
    normalisation: str = "none"
    output_range: tuple[float, float] = (0.0, 1.0)
    mean: float | None = None
    std: float | None = None


@dataclass(frozen=True)
class InputNormalisation:
    """Stored-value normalisation of image-to-image CT networks: ``x = (clip(HU) + hu_offset − mean) / scale`` in,
    ``HU = y · scale + mean − hu_offset`` out (ldct-benchmark: stored = HU + 1024; Eulig et al., Med Phys 2024).

    ``clip_hu``: optional (low, high) HU window applied before the offset. ``residual``: the network predicts a
    correction, ``y = x + f(x)`` (residual learning as RED-CNN: Chen et al., IEEE Trans Med Imaging 2017).
    """

    hu_offset: float
    mean: float
    scale: float
    clip_hu: tuple[float, float] | None = None
    residual: bool = False

    def forward(self, hu: Any) -> Any:
        """HU → network input."""
        if self.clip_hu is not None:
            import numpy as np

            hu = np.clip(hu, *self.clip_hu)
        return (hu + self.hu_offset - self.mean) / self.scale

    def inverse(self, value: Any) -> Any:
        """Network output (``x + f(x)`` for a residual network) → HU."""
        return value * self.scale + self.mean - self.hu_offset

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InputNormalisation:
        """From the card's ``input_normalisation`` object."""
        clip = data.get("clip_hu")
        return cls(float(data["hu_offset"]), float(data["mean"]), float(data["scale"]),
                   (float(clip[0]), float(clip[1])) if clip is not None else None, bool(data.get("residual", False)))


@dataclass(frozen=True)
class InputSpec:
    """What the network expects; spacing is (x, y, z) after reorientation, patch size in array axis order;
    ``slice_shape``: the only (rows, cols) a 2-D network accepts, when it has one."""

    modality: str
    channels: tuple[ChannelSpec, ...] = (ChannelSpec("image"),)
    spacing: tuple[float, float, float] | None = None
    orientation: str | None = None
    axis_order: str = "kji"
    intensity: IntensitySpec = field(default_factory=IntensitySpec)
    patch_size: tuple[int, ...] | None = None
    spatial_dims: int = 3
    slice_shape: tuple[int, int] | None = None


@dataclass(frozen=True)
class OutputLabel:
    """One output class: label value, name, network channel and optional terminology/colour."""

    value: int
    name: str
    channel: int
    terminology: Mapping[str, Mapping[str, str]] | None = None
    color: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class OutputSpec:
    """How network outputs become labels."""

    labels: tuple[OutputLabel, ...]
    activation: str = "softmax"
    largest_component: tuple[int, ...] = ()

    @property
    def names(self) -> dict[int, str]:
        return {label.value: label.name for label in self.labels}


@dataclass(frozen=True)
class InferenceSpec:
    """Sliding-window defaults."""

    overlap: float = 0.25
    blend_mode: str = "gaussian"
    mixed_precision: bool = True


@dataclass(frozen=True)
class TrainingInfo:
    """Who trained the weights, on what, and how."""

    trained_by_project: bool
    data: str
    method: str | None = None


@dataclass(frozen=True)
class ModelCard:
    """A validated model card. ``source`` is the file it was read from (relative URLs resolve against it)."""

    id: str
    version: str
    name: str
    task: str
    format: str
    files: tuple[ModelFile, ...]
    input: InputSpec
    licence: str
    training: TrainingInfo
    intended_use: str
    research_only: bool
    validation_status: str
    output: OutputSpec | None = None
    network: NetworkSpec | None = None
    bundle: BundleSpec | None = None
    weights: str | None = None
    state_dict_key: str | None = None
    input_normalisation: InputNormalisation | None = None
    inference: InferenceSpec = field(default_factory=InferenceSpec)
    description: str = ""
    licence_url: str | None = None
    limitations: str = ""
    reported_accuracy: tuple[Mapping[str, Any], ...] = ()
    algorithm: str | None = None
    source: Path | None = field(default=None, compare=False)
    raw: Mapping[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def key(self) -> str:
        """``id@version``: unique across the registry."""
        return f"{self.id}@{self.version}"

    @property
    def weights_path(self) -> str:
        """Path of the model file inside the model's cache folder."""
        if self.weights or not self.files:
            return self.weights or ""
        return self.files[0].target_name

    def file_url(self, model_file: ModelFile) -> str:
        """The file's absolute URL; a relative URL is resolved against the card's folder."""
        if urlsplit(model_file.url).scheme:
            return model_file.url
        if self.source is None:
            raise ModelCardError(self.key, [("files.url", f"relative URL '{model_file.url}' needs a card file")])
        return (self.source.parent / model_file.url).resolve().as_uri()

    def to_dict(self) -> dict[str, Any]:
        """The card as read (JSON-serialisable), e.g. to show it or to store it with a result."""
        return copy.deepcopy(dict(self.raw))

    def summary(self) -> str:
        """One line for lists and logs: id, version, task and trust level."""
        trust = "research only" if self.research_only else "clinical"
        return f"{self.key} ({self.task}, {self.format}, {trust}): {self.name}"


# -- reading and validation -----------------------------------------------------------------------------

def load_card(path: str | Path) -> ModelCard:
    """Read and validate a model card from a ``.json``, ``.yaml`` or ``.yml`` file.

    Args:
        path: the card file.

    Returns:
        The validated card, with ``source`` set to the file's absolute path.

    Raises:
        ModelCardError: the file cannot be parsed or violates the schema; every problem is listed.
    """
    path = Path(path).resolve()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ModelCardError(str(path), [("", f"cannot read the file: {error}")]) from error
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text)
        else:
            data = json.loads(text)
    except Exception as error:  # json.JSONDecodeError, yaml.YAMLError
        raise ModelCardError(str(path), [("", f"not valid {path.suffix.lstrip('.').upper()}: {error}")]) from error
    return card_from_dict(data, source=path)


def card_from_dict(data: Any, source: str | Path | None = None) -> ModelCard:
    """Validate a parsed card (a mapping) and build the :class:`ModelCard`.

    Raises:
        ModelCardError: schema or consistency problems, each naming its field.
    """
    where = str(source) if source is not None else "<dict>"
    if not isinstance(data, Mapping):
        raise ModelCardError(where, [("", f"a card must be a mapping/object, got {type(data).__name__}")])
    problems = [_describe(error) for error in _validator().iter_errors(data)]
    if problems:
        raise ModelCardError(where, sorted(set(problems)))
    card = _build(data, Path(source) if source is not None else None)
    problems = _consistency_problems(card)
    if problems:
        raise ModelCardError(where, problems)
    return card


def _field_path(parts: Any) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _describe(error: Any) -> tuple[str, str]:
    """(field, message) for one jsonschema error; a missing property is named itself."""
    location = list(error.absolute_path)
    if error.validator == "anyOf" and all(set(option) == {"required"} for option in error.validator_value):
        first, *others = [option["required"][0] for option in error.validator_value]
        alternatives = " or ".join(f"'{name}'" for name in others)
        return _field_path([*location, first]), f"is required but missing (or give {alternatives})"
    if error.validator == "required":
        missing = re.match(r"^'(.+)' is a required property$", error.message)
        if missing:
            return _field_path([*location, missing.group(1)]), "is required but missing"
    return _field_path(location), error.message


def _pair(values: Any) -> tuple[float, float] | None:
    return None if values is None else (float(values[0]), float(values[1]))


def _build(data: Mapping[str, Any], source: Path | None) -> ModelCard:
    input_data = data["input"]
    intensity = input_data.get("intensity", {})
    channels = tuple(ChannelSpec(c["name"], c.get("phase"), c.get("modality")) for c in input_data.get("channels", []))
    spacing = input_data.get("spacing")
    patch = input_data.get("patch_size")
    input_spec = InputSpec(
        modality=input_data["modality"],
        channels=channels or (ChannelSpec("image", modality=input_data["modality"]),),
        spacing=tuple(float(s) for s in spacing) if spacing else None,
        orientation=input_data.get("orientation"),
        axis_order=input_data.get("axis_order", "kji"),
        intensity=IntensitySpec(
            window=_pair(intensity.get("window")),
            normalisation=intensity.get("normalisation", "none"),
            output_range=_pair(intensity.get("output_range")) or (0.0, 1.0),
            mean=intensity.get("mean"),
            std=intensity.get("std"),
        ),
        patch_size=tuple(int(p) for p in patch) if patch else None,
        spatial_dims=int(input_data.get("spatial_dims", 3)),
        slice_shape=(int(input_data["slice_shape"][0]), int(input_data["slice_shape"][1]))
        if input_data.get("slice_shape") else None,
    )
    output = None
    if "output" in data:
        activation = data["output"].get("activation", "softmax")
        labels = tuple(
            OutputLabel(
                value=int(label["value"]),
                name=label["name"],
                channel=int(label.get("channel", position if activation == "sigmoid" else label["value"])),
                terminology=label.get("terminology"),
                color=tuple(label["color"]) if "color" in label else None,
            )
            for position, label in enumerate(data["output"]["labels"])
        )
        largest = data["output"].get("largest_component", False)
        if largest is True:
            largest = [label.value for label in labels if label.value != 0]
        output = OutputSpec(labels, activation, tuple(int(v) for v in (largest or ())))
    network = data.get("network")
    bundle = data.get("bundle")
    inference = data.get("inference", {})
    training = data["training"]
    return ModelCard(
        id=data["id"],
        version=data["version"],
        name=data["name"],
        task=data["task"],
        format=data["format"],
        files=tuple(
            ModelFile(f["url"], f.get("sha256", "").lower(), f["filename"], f.get("size"), f.get("archive"),
                      f.get("extract_to"), f.get("digest", {}).get("algorithm", "sha256"),
                      f.get("digest", {}).get("value", "").lower())
            for f in data["files"]
        ),
        input=input_spec,
        licence=data["licence"]["name"],
        licence_url=data["licence"].get("url"),
        training=TrainingInfo(training["trained_by_project"], training["data"], training.get("method")),
        intended_use=data["intended_use"],
        research_only=data["research_only"],
        validation_status=data["validation_status"],
        output=output,
        network=NetworkSpec(network["name"], dict(network.get("args", {}))) if network else None,
        bundle=BundleSpec(**bundle) if bundle is not None else (BundleSpec() if data["format"] == "monai_bundle" else None),
        weights=data.get("weights"),
        state_dict_key=data.get("state_dict_key"),
        input_normalisation=InputNormalisation.from_dict(data["input_normalisation"])
        if "input_normalisation" in data else None,
        inference=InferenceSpec(**inference),
        description=data.get("description", ""),
        limitations=data.get("limitations", ""),
        reported_accuracy=tuple(data.get("reported_accuracy", ())),
        algorithm=data.get("algorithm"),
        source=source,
        raw=dict(data),
    )


def _consistency_problems(card: ModelCard) -> list[tuple[str, str]]:
    """Checks the schema cannot express: allow-listed network, orientation letters, windows, unique names."""
    from .networks import ALLOWED_NETWORKS, PROJECT_NETWORKS

    problems: list[tuple[str, str]] = []
    if card.network is not None and card.network.name not in ALLOWED_NETWORKS | set(PROJECT_NETWORKS):
        problems.append(("network.name", f"'{card.network.name}' is not an allowed network; allowed: "
                                         f"{', '.join(sorted(ALLOWED_NETWORKS | set(PROJECT_NETWORKS)))}"))
    orientation = card.input.orientation
    if orientation and sorted(_AXIS_OF[c] for c in orientation) != [0, 1, 2]:
        problems.append(("input.orientation", f"'{orientation}' must name each of L/R, A/P, S/I exactly once"))
    window = card.input.intensity.window
    if window is not None and not window[0] < window[1]:
        problems.append(("input.intensity.window", f"low {window[0]} must be below high {window[1]}"))
    clip = card.input_normalisation.clip_hu if card.input_normalisation else None
    if clip is not None and not clip[0] < clip[1]:
        problems.append(("input_normalisation.clip_hu", f"low {clip[0]} must be below high {clip[1]}"))
    targets = [f.target_name for f in card.files]
    for index, name in enumerate(targets):
        if name in targets[:index]:
            problems.append((f"files[{index}].filename", f"'{name}' is used by two files"))
    if card.weights is None and card.format != "monai_bundle" and card.files and card.files[0].archive is not None:
        problems.append(("weights", "the first file is an archive: say which file inside it holds the model"))
    if card.output is not None:
        values = [label.value for label in card.output.labels]
        if len(set(values)) != len(values):
            problems.append(("output.labels", "label values must be unique"))
        unknown = sorted(set(card.output.largest_component) - set(values))
        if unknown:
            problems.append(("output.largest_component", f"label values {unknown} are not among the labels"))
    if card.input.slice_shape is not None and card.input.spatial_dims != 2:
        problems.append(("input.slice_shape", "a fixed slice shape needs a 2-D network (input.spatial_dims 2)"))
    patch = card.input.patch_size
    if card.task == "segmentation" and patch is not None and card.input.spacing is not None and len(patch) != 3:
        problems.append(("input.patch_size", "a 3D segmentation model needs a 3-value patch size"))
    return problems


_AXIS_OF = {"L": 0, "R": 0, "P": 1, "A": 1, "S": 2, "I": 2}
