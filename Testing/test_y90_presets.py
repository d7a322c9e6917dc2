"""Every Y-90 clinical convention is a named preset with a source; the values are the published ones."""

from __future__ import annotations

import json

import pytest

from Y90DosimetryLib import PresetError
from Y90DosimetryLib import presets as p

FILES = ["y90_dose_constants", "y90_microspheres", "y90_dose_limits", "y90_radiobiology", "y90_tissue_densities",
         "y90_dose_kernel"]


@pytest.mark.parametrize("name", FILES)
def test_every_preset_file_and_entry_names_its_source(name):
    data = p.load_preset(name)
    assert data["source"].strip()
    for entry in data.get("presets", {}).values():
        assert entry["source"].strip()


def test_published_values():
    limits = p.dose_limits("resin_sirtex")
    assert (limits.lung_dose_single_gy, limits.lung_dose_cumulative_gy) == (30.0, 50.0)
    assert [(b.lsf_from, b.lsf_to, b.activity_reduction) for b in limits.lung_shunt_reductions] == [
        (0.0, 0.10, 0.0), (0.10, 0.15, 0.20), (0.15, 0.20, 0.40)]
    assert limits.lung_shunt_contraindicated_above == 0.20
    assert p.dose_limits("glass_therasphere").lung_dose_single_gy == 30.0
    tumour, liver = p.radiobiology("hcc_tumour"), p.radiobiology("normal_liver")
    assert (tumour.alpha_beta_gy, tumour.repair_half_time_h) == (10.0, 1.5)
    assert (liver.alpha_beta_gy, liver.repair_half_time_h) == (2.5, 2.5)
    assert p.tissue_density("liver") == 1.03 and p.tissue_density("lung") == 0.3
    assert p.default_lung_mass_kg() == 1.0
    glass, resin = p.microsphere("glass"), p.microsphere("resin")
    assert (glass.activity_per_sphere_bq, resin.activity_per_sphere_bq) == (2500.0, 50.0)
    assert glass.dose_limits == "glass_therasphere" and resin.dose_limits == "resin_sirtex"


def test_unknown_presets_and_broken_files_raise(tmp_path, monkeypatch):
    with pytest.raises(PresetError):
        p.dose_constant("nonexistent")
    with pytest.raises(PresetError):
        p.tissue_density("bone marrow")
    with pytest.raises(PresetError):
        p.dose_constant(-1.0)
    (tmp_path / "y90_dose_constants.json").write_text(json.dumps({"presets": {}}))  # no source
    monkeypatch.setenv("HCCAI_PRESETS_DIR", str(tmp_path))
    with pytest.raises(PresetError):
        p.load_preset("y90_dose_constants")
    with pytest.raises(PresetError):
        p.load_preset("y90_missing")


def test_custom_dose_constant_is_labelled():
    k = p.dose_constant(49.5)
    assert (k.name, k.value) == ("custom", 49.5)
