"""``hccai demo`` step: per-lesion, per-phase radiomics of the sample patient with peritumoral rings."""

from __future__ import annotations

from ..demo import DemoContext, StepSkipped

__all__ = ["radiomics_step"]

#: A few interpretable features for the report table (the CSV holds all of them).
SHOWN = ("original_shape_VoxelVolume", "original_shape_Sphericity", "original_firstorder_Mean",
         "original_firstorder_StandardDeviation", "original_glcm_Contrast", "original_glszm_ZoneEntropy")


def radiomics_step(context: DemoContext) -> None:
    """pyradiomics features (preset ibsi-ct) of each lesion and its 5/10 mm rings in the arterial and portal
    venous phases, on the ground-truth segmentation; table in the report, CSV in the output folder."""
    try:
        import radiomics  # noqa: F401
    except ImportError as error:
        raise StepSkipped("pyradiomics is not installed: pip install 'hcc-interventional-ai[radiomics]'") from error
    from .table import LesionRadiomicsRequest, lesion_radiomics

    patient = context.patient
    section = context.report.section("Radiomics (pyradiomics, IBSI-style CT preset)")
    phases = {"arterial": patient.ct["arterial"], "portal venous": patient.ct["portal venous"]}
    request = LesionRadiomicsRequest(params="ibsi-ct")
    table = lesion_radiomics(phases, patient.truth, request, context.progress)
    frame = table.to_dataframe()
    csv = context.output_dir / "radiomics.csv"
    frame.to_csv(csv, index=False)
    section.text(
        f"{len(frame)} regions (lesion × phase × region: tumour, 0-5 mm and 5-10 mm peritumoral rings clipped to the "
        f"liver), {len(frame.columns) - 4} pyradiomics features each; all in {csv.name}. The SYNTHETIC lesions are "
        "brighter than the liver in the arterial phase and darker in the portal venous phase (mean HU below).")
    shown = frame[["phase", "lesion", "region", "voxels", *[c for c in SHOWN if c in frame.columns]]]
    section.table(shown, "Selected features per lesion, phase and region")
    context.results["radiomics"] = {"preset": request.params, "csv": csv.name, "rows": shown.to_dict(orient="records")}
    if context.scene is not None:
        from ..scene import dataframe_to_table_node

        dataframe_to_table_node(context.scene, shown, "Radiomics (selected features)")
