"""The foundation's own `hccai demo` steps: the synthetic sample patient and the model-loading library."""

from __future__ import annotations

import logging

from .demo import DemoContext

__all__ = ["sample_patient_step", "models_step"]

CT_WINDOW = (60.0, 400.0)  # (level, width): abdominal soft tissue


def sample_patient_step(context: DemoContext) -> None:
    """Show the synthetic patient: CT phases with ground-truth outlines, MAA SPECT projection, structure volumes."""
    from .report.figures import axial_montage, best_axial_slice, projection_figure
    from .report.html import round_nested
    from .report.render3d import last_render_problem, render_segmentation_png
    from .segmentation_stats import structure_volumes

    patient, section = context.patient, context.report.section("Synthetic sample patient")
    section.text(
        "A deterministic synthetic abdomen (analytic anatomy) with three CT phases and a 99mTc-MAA SPECT. The HCC "
        "lesions enhance in the arterial phase and wash out in the portal venous phase (the LI-RADS hallmark); the "
        "MAA SPECT has tumour-to-normal uptake ratio and lung shunt set by the generator."
    )
    section.key_values({k: v for k, v in patient.parameters.items() if not isinstance(v, (list, dict))})
    truth = patient.truth
    k = best_axial_slice(truth.mask("Tumor 1", allow_empty=True))
    panels = [(phase.capitalize(), volume, CT_WINDOW) for phase, volume in patient.ct.items()]
    section.figure(axial_montage(panels, k, truth), "Axial slice through the largest lesion, ground-truth outlines")
    spect_truth = patient.spect_truth_segmentation
    outlines = spect_truth.subset("Liver", "Lung", "Tumor 1", "Tumor 2")
    section.figure(projection_figure(patient.spect, "MAA SPECT (coronal MIP)", outlines),
                   "99mTc-MAA SPECT maximum-intensity projection with liver, lung and tumour outlines")
    structures_3d = ["Liver", "Tumor 1", "Tumor 2", "Portal vein", "Hepatic vein", "Hepatic artery", "Aorta"]
    png = render_segmentation_png(truth, names=structures_3d)
    if png is not None:
        section.image(png, "Ground truth in 3D, anterior view (patient's right on the left): see-through liver, "
                           "tumours, portal and hepatic veins, hepatic artery and aorta")
    else:
        section.text(f"3D view unavailable: {last_render_problem() or 'off-screen rendering failed'}.")
    table = structure_volumes(truth).to_dataframe()
    section.table(table, "Structure volumes (ground truth)")
    context.results["sample_patient"] = round_nested({
        "parameters": {k: v for k, v in patient.parameters.items() if not isinstance(v, (list, dict))},
        "structures": table.to_dict(orient="records")})

    if context.scene is not None:
        from .scene import dataframe_to_table_node, segmentation_to_node, volume_to_node

        nodes = {phase: volume_to_node(context.scene, volume, f"Sample CT {phase}") for phase, volume in patient.ct.items()}
        volume_to_node(context.scene, patient.spect, "Sample MAA SPECT")
        segmentation_to_node(context.scene, truth, "Sample ground truth", reference_volume_node=nodes["portal venous"])
        dataframe_to_table_node(context.scene, table, "Sample structure volumes")


def models_step(context: DemoContext) -> None:
    """Report the model registry and the compute device every network would run on."""
    from .models import list_models, select_device

    section = context.report.section("Model-loading library")
    try:
        device = select_device(context.device)
    except ImportError as error:
        from .demo import StepSkipped

        raise StepSkipped(f"PyTorch is not installed ({error}); pip install 'hcc-interventional-ai[ai]'") from error
    logging.getLogger(__name__).info("Networks run on %s", device)
    cards = list_models()
    section.text(f"Networks run on: {device}. Registered model cards: {len(cards)}.")
    if cards:
        import pandas as pd

        rows = [{"id": c.id, "version": c.version, "task": c.task, "format": c.format,
                 "trained by this project": c.training.trained_by_project, "status": c.validation_status}
                for c in cards]
        section.table(pd.DataFrame(rows), "Model cards")
    section.text(
        "No clinically trained weights ship with this extension. A model card (Resources/ModelCards/README.md) "
        "describes a public pretrained network or one you trained: its files are fetched only on request and "
        "verified by SHA-256, and its intended use and validation status are shown with every result. Put cards "
        "in $HCCAI_MODEL_CARDS and run them with `hccai segment <id> image.nrrd`."
    )
    context.results["models"] = {"device": str(device), "cards": [c.id for c in cards]}
