"""MRML nodes in, a segmentation node out: the HCCInterventionalAI module's segmentation logic without its GUI.

A :class:`SegmentationRequest` (the model card id, the input volume node, optional further CT phases, the device)
is the one vocabulary of the module's widget, its logic and tests. :func:`request_inputs` checks it and turns the
nodes into volumes, each tagged with its CT phase (``metadata["phase"]``, which the classical segmenter reads
and the worker process keeps), so that a portal venous + arterial request is segmented alike in Slicer's process
(:func:`segment_request`) and in a worker (:func:`start_request_worker`, then :func:`load_request_result`).

Importing this module imports neither ``slicer`` nor ``vtk``; the functions that touch the scene do, through
:mod:`HCCInterventionalAILib.scene`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..models.errors import ModelInputError

if TYPE_CHECKING:  # pragma: no cover
    from ..imaging.volume import Volume
    from ..models.card import ModelCard
    from ..process_runner import WorkerRunner
    from ..progress import CancelToken, ProgressCallback

__all__ = ["CARD_PHRASES", "SegmentationRequest", "accepted_phases", "describe_card", "load_request_result", "request_inputs", "segment_request",
           "start_request_worker", "structure_volumes_to_scene"]


@dataclass
class SegmentationRequest:
    """One segmentation: which model, on which volume node(s), with which optional further CT phases.

    Attributes:
        model_id: id of a segmentation model card (``id`` or ``id@version``).
        input_node: the volume node to segment (its grid and name are the result's); for a network with several
            input channels, a list with one node per channel, in the card's channel order.
        phase_nodes: optional further CT phases of the same patient on the same grid, by phase name (e.g.
            ``{"arterial": node}``); None values are ignored. Only a card that lists the phase among its
            channels (see :func:`accepted_phases`) takes it.
        device: where a network runs (``"auto"``, ``"cpu"``, ``"cuda"``).
    """

    model_id: str
    input_node: Any
    phase_nodes: dict[str, Any] = field(default_factory=dict)
    device: str = "auto"


def _canonical(phase: str | None) -> str:
    from .classical import _canonical_phase

    return _canonical_phase(phase or "")


def accepted_phases(card: ModelCard) -> tuple[str, ...]:
    """The optional CT phases a card takes besides its first channel (classical cards: e.g. arterial)."""
    if card.format != "classical":
        return ()
    return tuple(_canonical(channel.phase) for channel in card.input.channels[1:] if channel.phase)


def request_inputs(request: SegmentationRequest) -> tuple[ModelCard, list[Any], list[Volume]]:
    """Check a request and read its nodes: the card, the input nodes (first = reference) and their volumes.

    Phase-tagged volumes: with ``phase_nodes`` each volume's ``metadata["phase"]`` is the card channel's phase.

    Raises:
        ValueError: no input volume; ModelInputError (a ValueError): the number of volumes does not fit the card,
            or a phase the card does not take.
    """
    from ..models import get_card
    from ..models.to_scene import check_input_count
    from ..scene import node_to_volume

    primary = request.input_node
    nodes = list(primary) if isinstance(primary, (list, tuple)) else [primary]
    if not nodes or any(node is None for node in nodes):
        raise ValueError("Select an input volume.")
    card = get_card(request.model_id)
    phases = {_canonical(name): node for name, node in request.phase_nodes.items() if node is not None}
    unused = sorted(set(phases) - set(accepted_phases(card)))
    if unused:
        raise ModelInputError(f"Model {card.key} does not take a {' or '.join(unused)} phase; clear that input.")
    if phases and len(nodes) > 1:
        raise ModelInputError("Give the further phases either as a list of input volumes or by phase, not both.")
    tags: list[str | None] = [None] * len(nodes)
    if phases:
        channels = card.input.channels
        tags = [_canonical(channels[0].phase) if channels and channels[0].phase else None]
        for channel in channels[1:]:
            node = phases.get(_canonical(channel.phase))
            if node is not None:
                nodes.append(node)
                tags.append(_canonical(channel.phase))
    check_input_count(card, len(nodes))
    volumes = []
    for node, tag in zip(nodes, tags, strict=True):
        volume = node_to_volume(node)
        if tag:
            volume.metadata["phase"] = tag
        volumes.append(volume)
    return card, nodes, volumes


def segment_request(scene: Any, request: SegmentationRequest, progress: ProgressCallback | None = None,
                    cancel_token: CancelToken | None = None, *, show: bool = True) -> Any:
    """Segment in this process into a NEW segmentation node (named after the input node; inputs unchanged).

    Raises:
        ValueError: see :func:`request_inputs`; Cancelled: the token was cancelled (nothing is added).
    """
    from ..models import segment_volume
    from ..models.to_scene import result_to_scene
    from ..progress import Progress

    card, nodes, volumes = request_inputs(request)
    tracker = Progress(progress, cancel_token)
    output = segment_volume(card, volumes[0] if len(volumes) == 1 else volumes, tracker, device=request.device)
    tracker.check()
    return result_to_scene(scene, output.to_segmentation(), card, nodes[0], show=show)


def start_request_worker(request: SegmentationRequest, *, log: Any = None, progress: ProgressCallback | None = None,
                         python: str | None = None) -> WorkerRunner:
    """Start the segmentation in a worker process (``HCCInterventionalAILib.models.worker``) on the request's
    volumes, phase tags included; bad inputs fail here, before it starts. Read it with :func:`load_request_result`.
    """
    from ..models.worker import start_segmentation_worker

    card, _nodes, volumes = request_inputs(request)
    return start_segmentation_worker(volumes, card.key, device=request.device, python=python, log=log,
                                     progress=progress)


def load_request_result(scene: Any, runner: Any, request: SegmentationRequest, *, show: bool = True) -> Any:
    """A finished worker's segmentation (its runner, or the ``.seg.nrrd``) into a NEW segmentation node, as
    :func:`segment_request` makes it; the worker's temporary folder is removed."""
    from ..models import get_card
    from ..models.to_scene import result_to_scene
    from ..models.worker import read_segmentation_result

    primary = request.input_node
    reference = primary[0] if isinstance(primary, (list, tuple)) else primary
    return result_to_scene(scene, read_segmentation_result(runner), get_card(request.model_id), reference, show=show)


def structure_volumes_to_scene(scene: Any, segmentation_node: Any) -> tuple[Any, Any]:
    """Volumes (ml) of every segment and the liver tumour burden (%) of a segmentation node into a NEW table node
    named ``"<segmentation> volumes"`` (the segmentation is not modified).

    Returns:
        ``(table_node, stats)``, ``stats`` a :class:`~HCCInterventionalAILib.segmentation_stats.StructureVolumes`.

    Raises:
        ValueError: no segmentation node.
    """
    from ..scene import dataframe_to_table_node, node_to_segmentation
    from ..segmentation_stats import structure_volumes

    if segmentation_node is None:
        raise ValueError("Select a segmentation.")
    stats = structure_volumes(node_to_segmentation(segmentation_node))
    table = dataframe_to_table_node(scene, stats.to_dataframe(), f"{segmentation_node.GetName()} volumes")
    return table, stats


#: English phrases of :func:`describe_card` (the module passes its translations).
CARD_PHRASES = {"intended": "Intended use: {text}", "validation": "Validation: {text}", "licence": "Licence: {text}",
                "limitations": "Limitations: {text}", "research": "<b>Research use only — not for clinical use.</b>"}


def describe_card(card: ModelCard, phrases: dict[str, str] | None = None) -> str:
    """HTML summary of a model card: name and key, intended use, limitations, validation status, licence, and
    "research use only" (or the validation status); card texts are HTML-escaped.

    Args:
        card: the model card.
        phrases: the templates of :data:`CARD_PHRASES` (e.g. translated), by the same keys.
    """
    from html import escape

    phrases = {**CARD_PHRASES, **(phrases or {})}
    lines = [f"<b>{escape(card.name)}</b> ({escape(card.key)})",
             phrases["intended"].format(text=escape(card.intended_use)),
             phrases["validation"].format(text=escape(card.validation_status)),
             phrases["licence"].format(text=escape(card.licence)),
             phrases["research"] if card.research_only else escape(card.validation_status)]
    if card.limitations:
        lines.insert(3, phrases["limitations"].format(text=escape(card.limitations)))
    return "<br>".join(lines)
