"""Model cards (schema validation with clear field names) and the registry that discovers them."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
import yaml
from test_models_support import card_dict, write_card

from HCCInterventionalAILib.models import (
    ModelCardError,
    ModelRegistry,
    UnknownModelError,
    get_card,
    list_models,
    load_card,
)
from HCCInterventionalAILib.models.card import card_from_dict, schema_path

ROOT = Path(__file__).resolve().parents[1]
SHA = "ab" * 32
FILES = [{"url": "https://example.org/tiny.pt", "sha256": SHA, "filename": "tiny.pt"}]


def test_valid_card_is_read_into_dataclasses(tmp_path):
    card = load_card(write_card(tmp_path, card_dict(FILES, input={
        "modality": "CT", "spacing": [1.5, 1.5, 2.0], "orientation": "RAS", "axis_order": "ijk",
        "channels": [{"name": "arterial", "phase": "arterial"}, {"name": "portal venous", "phase": "portal venous"}],
        "intensity": {"window": [-175, 250], "normalisation": "range", "output_range": [0, 1]},
        "patch_size": [96, 96, 96]})))
    assert (card.id, card.version, card.task, card.format) == ("tiny-unet", "1.0.0", "segmentation", "state_dict")
    assert card.files[0].sha256 == SHA and card.files[0].filename == "tiny.pt"
    assert card.input.spacing == (1.5, 1.5, 2.0) and card.input.orientation == "RAS"
    assert [c.phase for c in card.input.channels] == ["arterial", "portal venous"]
    assert card.input.intensity.window == (-175.0, 250.0)
    assert card.network.name == "UNet" and card.network.args["out_channels"] == 3
    assert card.output.names == {0: "background", 1: "liver", 2: "tumor"}
    assert card.output.labels[1].terminology["type"]["value"] == "10200004"
    assert card.research_only and card.training.trained_by_project
    assert card.source == (tmp_path / "tiny-unet-1.0.0.json").resolve()


def test_yaml_card_equals_json_card(tmp_path):
    data = card_dict(FILES)
    yaml_path = tmp_path / "card.yaml"
    yaml_path.write_text(yaml.safe_dump(data), encoding="utf-8")
    card = load_card(yaml_path)
    assert card == load_card(write_card(tmp_path, data))
    assert card.to_dict() == data and json.dumps(card.to_dict())


def test_card_missing_sha256_is_rejected_naming_the_field(tmp_path):
    files = [{"url": "https://example.org/tiny.pt", "filename": "tiny.pt"}]
    with pytest.raises(ModelCardError) as caught:
        load_card(write_card(tmp_path, card_dict(files)))
    assert caught.value.fields == ["files[0].sha256"]
    assert "files[0].sha256" in str(caught.value) and "required" in str(caught.value)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"files": [{"url": "x", "sha256": "not-a-checksum", "filename": "tiny.pt"}]}, "files[0].sha256"),
        ({"files": [{"url": "x", "sha256": SHA, "filename": "../escape.pt"}]}, "files[0].filename"),
        ({"network": None}, "network"),  # state_dict without a network spec
        ({"network": {"name": "os.system", "args": {}}}, "network.name"),
        ({"network": {"name": "Transformer", "args": {}}}, "network.name"),  # a real MONAI name, not allow-listed
        ({"task": "detection"}, "task"),
        ({"output": None}, "output"),  # a segmentation model must declare its labels
        ({"research_only": "yes"}, "research_only"),
        ({"training": {"trained_by_project": True, "data": "simulations"}}, "training.method"),
        ({"input": {"modality": "CT", "orientation": "RRS"}}, "input.orientation"),
        ({"input": {"modality": "CT", "intensity": {"normalisation": "range"}}}, "input.intensity.window"),
        ({"input": {"modality": "CT", "intensity": {"window": [200, -100]}}}, "input.intensity.window"),
        ({"weights": "../../etc/passwd"}, "weights"),
        ({"unknown_field": 1}, ""),
    ],
)
def test_invalid_cards_name_the_bad_field(change, field):
    data = card_dict(FILES)
    for key, value in change.items():
        if value is None:
            data.pop(key)
        else:
            data[key] = value
    with pytest.raises(ModelCardError) as caught:
        card_from_dict(data)
    assert field in caught.value.fields, str(caught.value)


def test_every_problem_is_reported_at_once():
    data = card_dict([{"url": "x", "filename": "a.pt"}])
    del data["licence"]
    with pytest.raises(ModelCardError) as caught:
        card_from_dict(data)
    assert set(caught.value.fields) == {"files[0].sha256", "licence"}


def test_unparsable_card_is_a_card_error(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelCardError, match="not valid JSON"):
        load_card(path)


def test_schema_is_a_valid_draft_2020_12_schema():
    import jsonschema

    jsonschema.Draft202012Validator.check_schema(json.loads(schema_path().read_text(encoding="utf-8")))


def test_readme_example_card_is_valid():
    """The example in Resources/ModelCards/README.md must stay a valid card."""
    text = (ROOT / "Resources" / "ModelCards" / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```json\n(.*?)```", text, flags=re.S)
    assert blocks, "the README must show an example card"
    card = card_from_dict(json.loads(blocks[0]))
    assert card.task == "segmentation" and card.research_only


# -- registry -------------------------------------------------------------------------------------------

def _registry_cards(tmp_path):
    builtin, user = tmp_path / "builtin", tmp_path / "user"
    write_card(builtin, card_dict(FILES, id="liver", version="1.2.0"))
    write_card(builtin, card_dict(FILES, id="liver", version="1.10.0"))
    write_card(builtin / "nested", card_dict(FILES, id="response", task="classification", output=None))
    write_card(user, card_dict(FILES, id="vessels", name="User vessels"))
    (builtin / "model-card.schema.json").write_text("{}", encoding="utf-8")  # not a card
    return builtin, user


def test_registry_lists_newest_versions_and_filters_by_task(tmp_path):
    builtin, user = _registry_cards(tmp_path)
    registry = ModelRegistry([builtin, user])
    assert sorted((c.id, c.version) for c in registry.list_models()) == [
        ("liver", "1.10.0"), ("response", "1.0.0"), ("vessels", "1.0.0")]
    assert [c.id for c in registry.list_models("classification")] == ["response"]
    assert registry.get_card("liver").version == "1.10.0"  # numeric, not alphabetical, ordering
    assert registry.get_card("liver", "1.2.0").version == "1.2.0"
    with pytest.raises(ValueError, match="Unknown task"):
        registry.list_models("detection")


def test_registry_unknown_model_lists_known_ones(tmp_path):
    builtin, _ = _registry_cards(tmp_path)
    with pytest.raises(UnknownModelError, match="Known models: liver, response"):
        ModelRegistry([builtin]).get_card("spleen")
    with pytest.raises(UnknownModelError, match="versions: 1.2.0, 1.10.0"):
        ModelRegistry([builtin]).get_card("liver", "9")


def test_registry_skips_invalid_cards_with_a_warning(tmp_path, caplog):
    builtin, _ = _registry_cards(tmp_path)
    write_card(builtin, {"id": "broken"}, name="broken.json")
    with caplog.at_level(logging.WARNING):
        registry = ModelRegistry([builtin])
    assert len(registry.errors) == 1 and "broken.json" in registry.errors[0].source
    assert "Skipping an invalid model card" in caplog.text
    assert {c.id for c in registry.list_models()} == {"liver", "response"}


def test_env_var_folder_is_searched_and_overrides(tmp_path, monkeypatch):
    builtin, user = _registry_cards(tmp_path)
    override = tmp_path / "override"
    write_card(override, card_dict(FILES, id="vessels", name="Overridden vessels"))
    monkeypatch.setenv("HCCAI_MODEL_CARDS", f"{user}{__import__('os').pathsep}{override}")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "no-config"))
    assert get_card("vessels").name == "Overridden vessels"
    assert "vessels" in {c.id for c in list_models()}


def test_default_directories_include_the_repository_cards(monkeypatch, tmp_path):
    from HCCInterventionalAILib.models.registry import default_card_directories

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    directories = default_card_directories()
    assert directories[0] == ROOT / "Resources" / "ModelCards"
    assert directories[1] == tmp_path / "hccai" / "model-cards"
