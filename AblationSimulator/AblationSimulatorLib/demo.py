"""The ablation section of ``hccai demo``: one microwave applicator through the synthetic patient's largest tumour,
the vendor-chart zone, the bioheat zone in perfused liver with and without the vessels as heat sinks, the
physics-trained network's zone, margins, and an axial picture of the zones."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["ablation_demo_step", "demo_applicator", "zones_figure"]

DEMO_DEVICE, DEMO_POWER_W, DEMO_TIME_S = "covidien-mwa", 100.0, 600.0


def demo_applicator(ct: Any, tumour: np.ndarray, offset_mm: float) -> Any:
    """An applicator from the patient's right, 20° cranio-caudal tilt, whose chart-zone centre is the tumour's
    centroid (the tip lies ``offset_mm`` beyond it)."""
    from .applicator import Applicator

    kk, jj, ii = np.nonzero(tumour)
    centre = ct.geometry.physical_points(np.array([[ii.mean(), jj.mean(), kk.mean()]]))[0]
    tilt = np.radians(20.0)
    direction = np.array([np.cos(tilt), 0.0, -np.sin(tilt)])  # towards patient left (+L) and caudal (−S)
    tip = centre + offset_mm * direction
    entry = tip - 110.0 * direction
    return Applicator(tuple(tip), tuple(entry), "Applicator 1")


def zones_figure(ct: Any, tumour: np.ndarray, zones: dict[str, np.ndarray], vessels: np.ndarray | None) -> Any:
    """Axial slice through the tumour with the zone outlines (and vessels)."""
    from HCCInterventionalAILib.imaging import Segmentation
    from HCCInterventionalAILib.report.figures import axial_montage, best_axial_slice

    seg = Segmentation(ct.geometry)
    seg.add("Tumour", tumour, (0.2, 0.9, 0.2))
    colours = {"vendor": (1.0, 0.6, 0.1), "physics (no vessels)": (0.4, 0.6, 1.0), "physics (heat sink)": (0.9, 0.1, 0.1)}
    for name, zone in zones.items():
        if zone is not None and zone.any():
            seg.add(f"Zone {name}", zone, colours.get(name, (1.0, 1.0, 1.0)))
    if vessels is not None and vessels.any():
        seg.add("Vessels", vessels, (0.3, 0.3, 1.0))
    k = best_axial_slice(tumour)
    return axial_montage([("CT with zones (axial)", ct, (60.0, 400.0))], k, seg)


def ablation_demo_step(context: Any) -> None:
    """Run vendor and physics zone prediction with margins on the demo patient; add report, scene and results."""
    from HCCInterventionalAILib.demo import StepSkipped

    from .pipeline import AblationRequest, plan_ablation

    patient = context.patient
    section = context.report.section("Ablation-zone prediction (microwave)")
    ct = patient.ct["portal venous"]
    seg = patient.truth
    tumours = [n for n in seg.names if "tumo" in n.lower()]
    if not tumours:
        raise StepSkipped("the sample patient has no tumour segment")
    tumour_name = max(tumours, key=lambda n: int(seg.mask(n).sum()))
    tumour = seg.mask(tumour_name)
    small = ct.geometry.spacing[0] > 3.0
    request = AblationRequest(DEMO_DEVICE, DEMO_POWER_W, DEMO_TIME_S, model="both", tissue="liver",
                              tumour_segments=(tumour_name,), grid_spacing_mm=2.0 if small else 1.0,
                              device=context.device)
    from .devices import get_device

    offset = get_device(DEMO_DEVICE).ellipsoid(DEMO_POWER_W, DEMO_TIME_S).centre_offset_mm
    applicator = demo_applicator(ct, tumour, offset)
    parts = context.progress.split(3)
    try:
        with_sink = plan_ablation([applicator], request, ct=ct, segmentation=seg, progress=parts[0])
        no_sink = plan_ablation([applicator], request.replace(model="physics", vessel_segments=()), ct=ct,
                                segmentation=seg, progress=parts[1])
        network = plan_ablation([applicator], request.replace(model="network"), ct=ct, segmentation=seg,
                                progress=parts[2])
    except ImportError as error:
        raise StepSkipped(f"missing dependency: {error}") from error
    from .surrogate import dice

    network_dice = dice(network.network_zone, with_sink.physics_zone)
    e = with_sink.ellipsoid
    vendor_ml = with_sink.zone_volume_ml("vendor")
    sink_ml = with_sink.zone_volume_ml("physics")
    plain_ml = no_sink.zone_volume_ml("physics")
    section.text(
        f"{with_sink.device_name}, {DEMO_POWER_W:g} W for {DEMO_TIME_S:g} s, one applicator through {tumour_name} "
        f"({float(tumour.sum()) * ct.geometry.voxel_volume_ml:.1f} ml). Vendor chart (ex vivo): semi-axes "
        f"{e.along_mm:.1f} × {e.perpendicular_1_mm:.1f} mm, {vendor_ml:.1f} ml on the CT grid. Pennes bioheat model "
        f"with the source calibrated on that chart, in perfused liver: {plain_ml:.1f} ml without and {sink_ml:.1f} ml "
        f"with the segmented vessels ({', '.join(with_sink.vessel_names) or 'none'}) as heat sinks."
    )
    section.text(
        f"Physics-trained network (a U-Net trained on synthetic bioheat simulations only): "
        f"{network.zone_volume_ml('network'):.1f} ml in {network.timings_s['network']:.2f} s, versus the solver's "
        f"{with_sink.timings_s['physics']:.1f} s (first call includes loading the verified weights); Dice with the "
        f"solver's heat-sink zone {network_dice:.2f}. It reads the anatomy as the solver does (tissue 100 HU, "
        f"segmented vessels 180 HU) and was trained on 1.5 mm patches with straight synthetic vessels only."
    )
    section.warning("Synthetic patient and a model calibrated on ex-vivo vendor charts: not a clinical prediction.")
    section.table(with_sink.margin_table(), "Margins (tumour vs predicted zone)")
    section.figure(zones_figure(ct, tumour, {"vendor": with_sink.vendor_zone, "physics (no vessels)": no_sink.physics_zone,
                                             "physics (heat sink)": with_sink.physics_zone},
                                with_sink_vessels(with_sink, seg, ct)),
                   "Zones: vendor (orange), physics without vessels (blue), physics with heat sink (red), tumour "
                   "(green), vessels (dark blue)")
    margins = {model: {k: v for k, v in m.summary().items() if not isinstance(v, list)}
               for model, m in with_sink.margins.items()}
    from HCCInterventionalAILib.report.html import round_nested

    context.results["ablation"] = round_nested({
        "device": with_sink.device_name, "power_w": DEMO_POWER_W, "time_s": DEMO_TIME_S, "tumour": tumour_name,
        "tumour_ml": float(tumour.sum()) * ct.geometry.voxel_volume_ml,
        "chart_semi_axes_mm": [e.along_mm, e.perpendicular_1_mm, e.perpendicular_2_mm],
        "zone_ml": {"vendor": vendor_ml, "physics_no_vessels": plain_ml, "physics_heat_sink": sink_ml,
                    "network": network.zone_volume_ml("network")},
        "seconds": {"physics": with_sink.timings_s["physics"], "network": network.timings_s["network"]},
        "network_dice_vs_physics": network_dice,
        "vessels": with_sink.vessel_names, "margins": margins,
        "applicator": with_sink.applicators[0].to_dict(),
    })
    if context.scene is not None:
        from .to_scene import result_to_scene

        result_to_scene(context.scene, with_sink, "Sample ablation", add_applicators=True)


def with_sink_vessels(result: Any, seg: Any, ct: Any) -> np.ndarray | None:
    """Union of the vessel segments the result used as heat sinks (on the CT grid)."""
    if not result.vessel_names:
        return None
    mask = np.zeros(ct.geometry.shape, dtype=bool)
    for name in result.vessel_names:
        mask |= seg.mask(name, allow_empty=True)
    return mask
