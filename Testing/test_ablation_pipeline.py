"""AblationRequest + plan_ablation: vendor and physics zones with margins, bad input, JSON, and the scene writer."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from optional_deps import require_mrml

from AblationSimulatorLib.applicator import Applicator
from AblationSimulatorLib.errors import (
    AblationInputError,
    ApplicatorOutsideVolumeError,
    EmptyStructureError,
    UnknownDeviceError,
    UnstableSettingsError,
    ZeroEnergyError,
)
from AblationSimulatorLib.pipeline import AblationRequest, plan_ablation
from HCCInterventionalAILib.imaging import Geometry, Segmentation, Volume

H = 1.0


@pytest.fixture(autouse=True)
def _one_thread():
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _case(tumour_radius=6.0, vessel=False):
    geometry = Geometry((60, 60, 60), (H, H, H), (-30.0, -30.0, -30.0))
    ct = Volume(np.full(geometry.shape, 60.0, dtype=np.float32), geometry, name="CT", modality="CT")
    kk, jj, ii = np.indices(geometry.shape)
    p = geometry.physical_points(np.stack([ii.ravel(), jj.ravel(), kk.ravel()], 1)).reshape(*geometry.shape, 3)
    seg = Segmentation(geometry)
    seg.add("Tumour 1", (p**2).sum(-1) <= tumour_radius**2)
    if vessel:
        seg.add("Portal vein", ((p[..., 0] - 10.0) ** 2 + p[..., 1] ** 2) <= 9.0)
    return ct, seg


def _applicator(offset_mm: float, name="A1"):
    """Vertical applicator whose zone centre (``offset_mm`` behind the tip) is the origin."""
    return Applicator((0.0, 0.0, -offset_mm), (0.0, 0.0, 90.0 - offset_mm), name)


def test_vendor_zone_and_margins_against_the_chart_ellipsoid():
    """Covidien 45 W / 600 s is a sphere of r = 14.5 mm centred 11.5 mm behind the tip: its volume
    4/3 π 14.5³ = 12.77 ml (1 mm grid, within 3 %); a concentric tumour of r = 6 mm has margin 8.5 mm (± 1 voxel)."""
    ct, seg = _case()
    result = plan_ablation([_applicator(11.5)], AblationRequest("covidien-mwa", 45.0, 600.0), ct=ct,
                           segmentation=seg)
    assert result.zone_volume_ml("vendor") == pytest.approx(4 / 3 * math.pi * 14.5**3 / 1000, rel=0.03)
    margins = result.margins["vendor"]
    assert margins.minimal_margin_mm == pytest.approx(8.5, abs=H)
    assert margins.tumour_covered_percent == 100.0
    assert result.tumour_names == ["Tumour 1"]
    data = json.loads(result.to_json())
    assert data["margins"]["vendor"]["minimal_margin_mm"] == pytest.approx(margins.minimal_margin_mm)
    assert data["chart_ellipsoid_mm"]["along"] == 14.5
    table = result.margin_table()
    assert list(table.columns) == ["Metric", "vendor"]


def test_physics_zone_ex_vivo_matches_vendor_and_vessel_shrinks_it():
    """Ex-vivo tissue: the physics zone (calibrated source) has the chart volume within 10 % (Amica 20 W / 180 s,
    semi-axes 12 × 8 × 8 mm → 3.22 ml); with a 6 mm portal vein 10 mm from the applicator it is smaller and
    the warnings name the heat sink."""
    ct, seg = _case(tumour_radius=3.0, vessel=True)
    request = AblationRequest("amica-probe", 20.0, 180.0, model="both", tissue="liver_ex_vivo", device="cpu",
                              vessel_segments=())
    plain = plan_ablation([_applicator(10.0)], request, ct=ct, segmentation=seg)
    chart_ml = 4 / 3 * math.pi * 12 * 8 * 8 / 1000
    assert plain.zone_volume_ml("vendor") == pytest.approx(chart_ml, rel=0.05)
    assert plain.zone_volume_ml("physics") == pytest.approx(chart_ml, rel=0.10)
    sink = plan_ablation([_applicator(10.0)], request.replace(vessel_segments=None), ct=ct, segmentation=seg)
    assert sink.vessel_names == ["Portal vein"]
    assert sink.zone_volume_ml("physics") < plain.zone_volume_ml("physics")
    assert any("Heat sink" in w for w in sink.warnings)
    assert set(sink.margins) == {"vendor", "physics"}


def test_composite_of_two_applicators_is_larger_than_one():
    ct, seg = _case()
    request = AblationRequest("covidien-mwa", 45.0, 300.0)
    one = plan_ablation([_applicator(11.5)], request, ct=ct)
    apps = [Applicator((x, 0.0, -11.5), (x, 0.0, 80.0), f"A{i}") for i, x in enumerate((-8.0, 8.0))]
    two = plan_ablation(apps, request, ct=ct)
    assert one.zone_volume_ml("vendor") < two.zone_volume_ml("vendor") < 2 * one.zone_volume_ml("vendor")


def test_bad_inputs_give_clear_errors():
    ct, seg = _case()
    app = _applicator(11.5)
    with pytest.raises(ApplicatorOutsideVolumeError, match="outside the image"):
        plan_ablation([Applicator((0.0, 0.0, -200.0), (0.0, 0.0, -100.0))], ct=ct)
    with pytest.raises(ZeroEnergyError, match="power"):
        AblationRequest(power_w=0.0)
    with pytest.raises(ZeroEnergyError, match="time"):
        plan_ablation([app], ct=ct, time_s=0.0)
    with pytest.raises(UnknownDeviceError, match="Unknown ablation device"):
        plan_ablation([app], ct=ct, ablation_device="Acme 3000")
    empty = Segmentation(ct.geometry)
    empty.add("Tumour 1", np.zeros(ct.geometry.shape, bool))
    with pytest.raises(EmptyStructureError, match="empty"):
        plan_ablation([app], ct=ct, segmentation=empty)
    with pytest.raises(EmptyStructureError, match="not found"):
        plan_ablation([app], ct=ct, segmentation=seg, tumour_segments=("Tumour 9",))
    with pytest.raises(UnstableSettingsError, match="stability limit"):
        plan_ablation([app], ct=ct, model="physics", time_step_s=5.0, device="cpu")
    with pytest.raises(AblationInputError, match="at least one applicator"):
        plan_ablation([], ct=ct)
    with pytest.raises(AblationInputError, match="Unknown ablation option"):
        AblationRequest.from_mapping({"powr_w": 3})
    for error in (ApplicatorOutsideVolumeError, ZeroEnergyError, UnknownDeviceError, EmptyStructureError,
                  UnstableSettingsError):
        assert issubclass(error, ValueError)


def test_result_to_scene_writes_zones_tables_and_temperature():
    require_mrml()
    from AblationSimulatorLib.to_scene import RESULT_ATTRIBUTE, result_to_scene
    from HCCInterventionalAILib.scene import new_scene, release_scene, table_node_to_dataframe

    ct, seg = _case(tumour_radius=3.0)
    result = plan_ablation([_applicator(10.0)], AblationRequest("amica-probe", 20.0, 180.0, model="both",
                                                               device="cpu"), ct=ct, segmentation=seg)
    scene = new_scene()
    try:
        nodes = result_to_scene(scene, result, "Case", add_applicators=True)
        assert nodes["zones"].GetSegmentation().GetNumberOfSegments() >= 2
        margins = table_node_to_dataframe(nodes["marginTable"])
        assert margins.iloc[0, 0] == "Minimal ablative margin (mm)"
        assert float(margins["vendor"].iloc[0]) == pytest.approx(result.margins["vendor"].minimal_margin_mm)
        assert nodes["temperature"].GetAttribute(RESULT_ATTRIBUTE) == "temperature"
        assert len(nodes["applicators"]) == 1
    finally:
        release_scene(scene)
