"""No network weights are tracked in the repository, unless a model card vouches for them.

Honest AI: the extension ships no weights that could pass for a clinically trained model. A weight file
(``*.pt``, ``*.pth``, ``*.ckpt``, ``*.onnx``, ``*.safetensors``, ``*.bin``, ``*.h5``, ``*.pkl``, ``*.joblib``,
``*.skops``) may be tracked in git only when a model card in ``Resources/ModelCards`` lists it (its ``files[].url``
resolves to that path and its SHA-256 matches) and the card's ``training`` section says the project trained it
(``trained_by_project: true``) on synthetic data (``data`` mentions "synthetic"); see
``Resources/ModelCards/model-card.schema.json``.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from collections.abc import Iterable
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CARDS = ROOT / "Resources" / "ModelCards"
WEIGHT_SUFFIXES = (".pt", ".pth", ".ckpt", ".onnx", ".safetensors", ".bin", ".h5", ".pkl", ".joblib", ".skops")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def vouched_weight_files(cards_dir: Path, root: Path) -> set[str]:
    """Repository paths (POSIX, relative to ``root``) of weight files that a valid card in ``cards_dir`` lists with a
    matching SHA-256 and declares as trained by the project on synthetic data."""
    from HCCInterventionalAILib.models import load_card
    from HCCInterventionalAILib.models.errors import ModelCardError

    allowed: set[str] = set()
    for card_path in sorted(cards_dir.glob("*")):
        if card_path.suffix.lower() not in (".json", ".yaml", ".yml") or card_path.name.endswith(".schema.json"):
            continue
        try:
            card = load_card(card_path)
        except ModelCardError:
            continue  # an invalid card vouches for nothing
        if not (card.training.trained_by_project and "synthetic" in card.training.data.lower()):
            continue
        for model_file in card.files:
            if "://" in model_file.url:
                continue
            target = (card_path.parent / model_file.url).resolve()
            if target.is_file() and root in target.parents and _sha256(target) == model_file.sha256.lower():
                allowed.add(target.relative_to(root).as_posix())
    return allowed


def unexpected_weight_files(tracked: Iterable[str], allowed: set[str]) -> list[str]:
    """The tracked paths that look like weight files and are not vouched for by a card."""
    return sorted(p for p in tracked if p.lower().endswith(WEIGHT_SUFFIXES) and p not in allowed)


def _tracked_files() -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    result = subprocess.run(["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True, check=True)
    return [p for p in result.stdout.decode("utf-8").split("\0") if p]


def test_no_weight_file_is_tracked_without_a_synthetic_training_card():
    tracked = _tracked_files()
    assert "pyproject.toml" in tracked  # the listing works
    offending = unexpected_weight_files(tracked, vouched_weight_files(CARDS, ROOT))
    assert offending == [], f"Weight files tracked in git without a synthetic-training model card: {offending}"


def _card(folder: Path, weights: Path, *, trained_by_project: bool, data: str) -> Path:
    import json

    training = {"trained_by_project": trained_by_project, "data": data}
    if trained_by_project:
        training["method"] = "test"
    card = {
        "id": "toy", "version": "1.0.0", "name": "toy", "task": "image-to-image", "format": "state_dict",
        "files": [{"url": weights.name, "sha256": _sha256(weights), "filename": weights.name}],
        "network": {"name": "UNet", "args": {}}, "input": {"modality": "NM"}, "licence": {"name": "Apache-2.0"},
        "training": training, "intended_use": "test", "research_only": True, "validation_status": "test",
    }
    path = folder / "toy.card.json"
    path.write_text(json.dumps(card), encoding="utf-8")
    return path


@pytest.mark.parametrize("trained_by_project, data, allowed", [
    (True, "4 SYNTHETIC phantom pairs", True),
    (True, "120 patient CTs from hospital X", False),     # trained by us, but on patients
    (False, "synthetic phantoms (third party)", False),   # not trained by the project
])
def test_only_synthetic_project_cards_vouch_for_a_weight_file(tmp_path, trained_by_project, data, allowed):
    """The rule itself can fail: a tracked ``model.pt`` is reported unless a card of the right kind lists it, and
    a file whose bytes no longer match the card's SHA-256 is reported too."""
    pytest.importorskip("jsonschema", reason="card validation needs jsonschema")
    cards = tmp_path / "Resources" / "ModelCards"
    cards.mkdir(parents=True)
    weights = cards / "toy.pt"
    weights.write_bytes(b"not really tensors")
    _card(cards, weights, trained_by_project=trained_by_project, data=data)
    tracked = ["Resources/ModelCards/toy.pt", "README.md", "other/model.ONNX"]
    vouched = vouched_weight_files(cards, tmp_path.resolve())
    expected = ["other/model.ONNX"] if allowed else ["Resources/ModelCards/toy.pt", "other/model.ONNX"]
    assert unexpected_weight_files(tracked, vouched) == expected
    weights.write_bytes(b"swapped after the card was written")
    assert "Resources/ModelCards/toy.pt" in unexpected_weight_files(tracked, vouched_weight_files(cards,
                                                                                                 tmp_path.resolve()))
