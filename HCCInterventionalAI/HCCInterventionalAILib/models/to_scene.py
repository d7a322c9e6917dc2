"""Segmentation results into the MRML scene: one function shared by the module's in-process and worker paths.

The module (``HCCInterventionalAI.py``) checks the volumes given for a card with :func:`check_input_count`,
segments in its own process (:func:`~.segment.segment_volume`) or in a worker (:mod:`.worker`), and puts the
segmentation into a NEW node with :func:`result_to_scene`. Importing this module imports neither ``slicer`` nor
``vtk``; :func:`result_to_scene` does, through :mod:`HCCInterventionalAILib.scene`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import ModelInputError

if TYPE_CHECKING:  # pragma: no cover
    from ..imaging.segmentation import Segmentation
    from .card import ModelCard

__all__ = ["MODEL_CARD_ATTRIBUTE", "check_input_count", "result_name", "result_to_scene"]

#: Node attribute holding the key (``id@version``) of the model card that made a segmentation.
MODEL_CARD_ATTRIBUTE = "HCCInterventionalAI.ModelCard"


def check_input_count(card: ModelCard, given: int) -> None:
    """Check the number of input volumes for a card: one per input channel; a classical (non-learning) card
    takes its first channel and, optionally, the further ones (e.g. CT phases).

    Raises:
        ModelInputError: (a ValueError) the count does not fit, naming the card's channels.
    """
    channels = [channel.name for channel in card.input.channels]
    optional = card.format == "classical" and 1 <= given <= len(channels)
    if given != len(channels) and not optional:
        raise ModelInputError(f"Model {card.key} needs {len(channels)} input volumes ({', '.join(channels)}); "
                              f"got {given}.")


def result_name(input_name: str, card: ModelCard) -> str:
    """Name of the segmentation of the volume ``input_name``: ``"<volume> <model id> segmentation"``."""
    return f"{input_name} {card.id} segmentation"


def result_to_scene(scene: Any, segmentation: Segmentation, card: ModelCard, reference_volume_node: Any, *,
                    show: bool = False) -> Any:
    """Put a model's segmentation into ``scene`` as a NEW segmentation node on the input volume's geometry.

    Args:
        scene: the MRML scene (None: ``slicer.mrmlScene``).
        segmentation: the segments (names, colours and terminology of the card).
        card: the model card that made it (its key is stored in the node attribute
            :data:`MODEL_CARD_ATTRIBUTE`).
        reference_volume_node: the (first) input volume node; names the result and is its reference geometry.
        show: show it in the slice views and, as closed surfaces, in 3D
            (:func:`~HCCInterventionalAILib.slicer_helpers.show_segmentation_in_3d`).

    Returns:
        The new ``vtkMRMLSegmentationNode`` (a unique name in the scene; inputs are not modified).
    """
    from ..scene import segmentation_to_node

    name = result_name(reference_volume_node.GetName(), card)
    node = segmentation_to_node(scene, segmentation, name=name, reference_volume_node=reference_volume_node)
    node.SetAttribute(MODEL_CARD_ATTRIBUTE, card.key)
    if show:
        from ..slicer_helpers import show_segmentation_in_3d

        show_segmentation_in_3d(node)
    return node
