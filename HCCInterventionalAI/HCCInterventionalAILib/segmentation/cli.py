"""``hccai train-segmentation``: train or fine-tune a MONAI UNet on an MSD-layout dataset; writes weights and a card.

Registered through the ``hccai.commands`` entry point; the output folder is written atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from HCCInterventionalAILib.cli import OverwriteOption, QuietOption, atomic_output, terminal_progress, user_errors
from HCCInterventionalAILib.outputs import check_output_path

__all__ = ["register"]


def register(app: typer.Typer) -> None:
    """Add ``train-segmentation`` to the root app."""

    @app.command("train-segmentation")
    def train_segmentation_command(
        dataset: Annotated[Path, typer.Argument(help="MSD Task03-layout folder (dataset.json, imagesTr, labelsTr).")],
        output: Annotated[Path, typer.Option("--output", "-o", help="Output folder (weights.pt + model card).")] = Path(
            "hccai-trained-model"),
        epochs: Annotated[int, typer.Option(help="Training epochs.")] = 40,
        spacing: Annotated[float, typer.Option(help="Isotropic training spacing (mm).")] = 8.0,
        model_id: Annotated[str, typer.Option(help="Id of the model card to write.")] = "liver-unet-custom",
        init_card: Annotated[str | None, typer.Option(help="Fine-tune from this card's state_dict weights.")] = None,
        val_cases: Annotated[int, typer.Option(help="Held-out cases (the last ones) for the reported Dice.")] = 1,
        overwrite: OverwriteOption = False,
        quiet: QuietOption = False,
    ) -> None:
        """Train (or fine-tune) a segmentation network; the card records the held-out Dice and the data used."""
        with user_errors(output):
            check_output_path(output, folder=True, overwrite=overwrite)
            from .training import TrainRequest, train_segmentation

            request = TrainRequest(epochs=epochs, spacing=(spacing,) * 3, model_id=model_id, init_card=init_card,
                                   val_cases=val_cases)
            with atomic_output(output, overwrite=overwrite) as staging, \
                    terminal_progress("hccai train-segmentation", enabled=not quiet) as progress:
                result = train_segmentation(dataset, staging, request, progress)
        dice = ", ".join(f"{name} {value:.3f}" for name, value in result.validation_dice.items())
        typer.echo(f"Held-out Dice: {dice}. Card: {output / result.card.name} (put the folder in HCCAI_MODEL_CARDS)")
