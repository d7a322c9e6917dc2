"""Publisher digests (e.g. the MONAI Model Zoo's SHA-1) in model cards, SHA-256 recorded after the first verified
fetch, and ``hccai models import`` of weights downloaded elsewhere (offline)."""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from pathlib import Path

import pytest
from test_models_support import card_dict, write_card
from typer.testing import CliRunner

from HCCInterventionalAILib.models import ChecksumMismatchError, is_fetched, load_card
from HCCInterventionalAILib.models.errors import ModelCardError
from HCCInterventionalAILib.models.fetch import RECORDED_SHA256, fetch_model, model_directory
from HCCInterventionalAILib.models.importing import ImportSourceError, import_model

PAYLOAD = b"not really weights, but bytes with known digests\n"


def _sha1_card(tmp_path, url: str, sha1: str) -> dict:
    return card_dict([{"url": url, "filename": "weights.pt", "digest": {"algorithm": "sha1", "value": sha1}}],
                     id="zoo-like", name="Zoo-like card")


def test_fetch_verifies_the_publisher_sha1_and_records_the_sha256(tmp_path):
    """hashlib is the independent reference for both digests of the payload."""
    source = tmp_path / "served" / "weights.pt"
    source.parent.mkdir()
    source.write_bytes(PAYLOAD)
    card = load_card(write_card(tmp_path / "cards", _sha1_card(tmp_path, source.as_uri(), hashlib.sha1(PAYLOAD).hexdigest())))
    cache = tmp_path / "cache"
    folder = fetch_model(card, cache_dir=cache)
    assert (folder / "weights.pt").read_bytes() == PAYLOAD and is_fetched(card, cache_dir=cache)
    recorded = json.loads((folder / RECORDED_SHA256).read_text(encoding="utf-8"))
    assert recorded == {"weights.pt": hashlib.sha256(PAYLOAD).hexdigest()}

    wrong = load_card(write_card(tmp_path / "cards2", _sha1_card(tmp_path, source.as_uri(), "0" * 40)))
    with pytest.raises(ChecksumMismatchError, match="SHA-1") as caught:
        fetch_model(wrong, cache_dir=tmp_path / "cache2")
    assert caught.value.actual == hashlib.sha1(PAYLOAD).hexdigest()
    assert not (model_directory(wrong, tmp_path / "cache2") / "weights.pt").exists()


def test_a_card_needs_a_sha256_or_a_digest(tmp_path):
    files = [{"url": "https://example.org/w.pt", "filename": "w.pt", "digest": {"algorithm": "crc32", "value": "ab"}}]
    with pytest.raises(ModelCardError):
        load_card(write_card(tmp_path, card_dict(files)))


def test_import_from_a_folder_and_from_a_zip_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    (downloads / "weights.pt").write_bytes(PAYLOAD)
    # The card's URL cannot be reached: import must not download.
    card_path = write_card(tmp_path / "mine", _sha1_card(tmp_path, "https://unreachable.invalid/weights.pt",
                                                         hashlib.sha1(PAYLOAD).hexdigest()))
    cache = tmp_path / "cache"
    card = import_model(downloads, card_path, cache_dir=cache)
    assert is_fetched(card, cache_dir=cache)
    assert (tmp_path / "config" / "hccai" / "model-cards" / "zoo-like-1.0.0.json").is_file()

    archive = tmp_path / "bundle.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("some/folder/weights.pt", PAYLOAD)
    cache2 = tmp_path / "cache2"
    assert is_fetched(import_model(archive, card_path, cache_dir=cache2, cards_dir=tmp_path / "c2"), cache_dir=cache2)

    (downloads / "weights.pt").write_bytes(PAYLOAD + b"tampered")
    with pytest.raises(ChecksumMismatchError):
        import_model(downloads, card_path, cache_dir=tmp_path / "cache3", cards_dir=tmp_path / "c3")
    assert not (model_directory(card, tmp_path / "cache3") / "weights.pt").exists()
    with pytest.raises(ImportSourceError, match="no file named weights.pt"):
        import_model(tmp_path / "mine", card_path, cache_dir=tmp_path / "cache4", cards_dir=tmp_path / "c4")


def test_models_import_command(tmp_path, monkeypatch):
    from HCCInterventionalAILib.cli.main import app

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("HCCAI_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "weights.pt").write_bytes(PAYLOAD)
    card_path = write_card(tmp_path / "mine", _sha1_card(tmp_path, "https://unreachable.invalid/weights.pt",
                                                         hashlib.sha1(PAYLOAD).hexdigest()))
    result = CliRunner().invoke(app, ["models", "import", str(tmp_path / "weights.pt"), "--card", str(card_path)])
    assert result.exit_code == 0, result.output
    assert "zoo-like@1.0.0" in result.output
    bad = CliRunner().invoke(app, ["models", "import", str(tmp_path / "nothing"), "--card", str(card_path)])
    assert bad.exit_code == 2 and "No such file or folder" in bad.output


def test_builtin_cards_validate_and_name_their_trust():
    """The shipped cards: the non-learning segmenter and a public MONAI Model Zoo bundle (publisher's SHA-1, as
    listed in the zoo's models/model_info.json), both research only."""
    from HCCInterventionalAILib.models import get_card

    classical = get_card("liver-classical")
    assert "non-learning, intensity/shape based" in classical.name and classical.format == "classical"
    zoo = get_card("monai-zoo-swin-unetr-btcv")
    assert zoo.files[0].publisher_digest == ("sha1", "90aad6320190c85d5e6e78d8023f2b2519ea4efc")
    assert not zoo.files[0].sha256 and zoo.format == "monai_bundle" and not zoo.training.trained_by_project
    liver = next(label for label in zoo.output.labels if label.name == "Liver")
    assert liver.value == 6 and liver.terminology["type"]["value"] == "10200004"
    assert classical.research_only and zoo.research_only


ZOO_CARDS = sorted((Path(__file__).resolve().parents[1] / "Resources" / "ModelCards").glob("monai-zoo-*.json"))


def test_there_is_more_than_one_zoo_card():
    """The zoo bundles whose labels include the liver: swin_unetr_btcv, wholeBody_ct and pediatric_abdominal_ct."""
    assert {p.stem for p in ZOO_CARDS} >= {"monai-zoo-swin-unetr-btcv", "monai-zoo-wholebody-ct",
                                           "monai-zoo-pediatric-abdominal-ct"}


@pytest.mark.parametrize("path", ZOO_CARDS, ids=[p.stem for p in ZOO_CARDS])
def test_every_zoo_card_is_valid_pinned_and_segments_the_liver(path, tmp_path, monkeypatch):
    """Each MONAI Model Zoo card: valid against the JSON schema (jsonschema is the independent validator), the
    publisher's SHA-1 (40 hex digits) for a zip named ``<bundle>_v<version>.zip`` as in models/model_info.json, the
    liver among its labels with SNOMED CT 10200004 (Liver), licence and intended use present, research only, and
    listed by ``hccai models list``."""
    import jsonschema

    from HCCInterventionalAILib.cli.main import app
    from HCCInterventionalAILib.models import get_card, list_models

    raw = json.loads(path.read_text(encoding="utf-8"))
    schema = json.loads((path.parent / "model-card.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator(schema).validate(raw)
    card = get_card(raw["id"])
    assert card.id == path.stem and card.format == "monai_bundle" and card.task == "segmentation"
    algorithm, value = card.files[0].publisher_digest
    assert algorithm == "sha1" and re.fullmatch(r"[0-9a-f]{40}", value)
    assert card.files[0].filename.endswith(f"_v{card.version}.zip") and card.files[0].url.endswith(card.files[0].filename)
    livers = [label for label in card.output.labels if (label.terminology or {}).get("type", {}).get("value") == "10200004"]
    assert len(livers) == 1 and livers[0].name == "Liver" and livers[0].value > 0
    assert raw["licence"]["name"].strip() and raw["intended_use"].strip()
    assert card.research_only and not card.training.trained_by_project
    assert card.id in {c.id for c in list_models(task="segmentation")}

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    listing = CliRunner().invoke(app, ["models", "list"])
    assert listing.exit_code == 0 and f"{card.id}  v{card.version}" in listing.output


def test_minmax_normalisation_matches_monai_scale_intensity():
    """The 'minmax' intensity of the wholeBody card against MONAI's ScaleIntensity(minv=-1, maxv=1), the
    transform the bundle uses: values -400..500 HU map to -1 + 2 * (x + 400) / 900, so -400 -> -1, 500 -> 1
    (tolerance 1e-6)."""
    import torch
    from monai.transforms import ScaleIntensity

    from HCCInterventionalAILib.models.card import IntensitySpec
    from HCCInterventionalAILib.models.preprocessing import normalise_intensity

    image = torch.arange(1000, dtype=torch.float32).reshape(1, 1, 10, 10, 10) % 10 * 100.0 - 400.0
    expected = ScaleIntensity(minv=-1.0, maxv=1.0)(image[0]).unsqueeze(0)
    ours = normalise_intensity(image.clone(), IntensitySpec(normalisation="minmax", output_range=(-1.0, 1.0)))
    assert torch.allclose(ours, torch.as_tensor(expected), atol=1e-6)
    assert float(ours.min()) == pytest.approx(-1.0) and float(ours.max()) == pytest.approx(1.0)
