"""Every user error of `hccai` is one red line on stderr with exit code 2 and no traceback, for the shared commands
and for commands registered through the `hccai.commands` entry points; the shared CLI imports no capability."""

from __future__ import annotations

import ast
import os
import pickle
from pathlib import Path

import pytest
import typer
from test_models_support import card_dict, file_entry, write_card
from typer.testing import CliRunner

from HCCInterventionalAILib.cli import OverwriteOption, atomic_output, user_errors
from HCCInterventionalAILib.cli import main as cli_main
from HCCInterventionalAILib.cli.main import app
from HCCInterventionalAILib.models import clear_model_cache

runner = CliRunner()
CLI_FOLDER = Path(cli_main.__file__).parent
CAPABILITY_PACKAGES = ("Y90DosimetryLib", "AblationSimulatorLib")


def _assert_one_line_error(result, *fragments: str) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 2, result.output + repr(result.exception)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: ") and "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def cards(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setenv("HCCAI_MODEL_CARDS", str(tmp_path / "cards"))
    monkeypatch.setenv("HCCAI_CACHE_DIR", str(tmp_path / "cache"))
    clear_model_cache()
    yield tmp_path / "cards"
    clear_model_cache()


@pytest.fixture(scope="module")
def spect_file(tmp_path_factory, small_patient) -> Path:
    from HCCInterventionalAILib.imaging.io import write_volume

    path = tmp_path_factory.mktemp("images") / "maa-spect.nrrd"
    write_volume(small_patient.spect, path)
    return path


def test_models_fetch_with_a_checksum_mismatch(cards: Path, tmp_path: Path):
    weights = tmp_path / "weights.pt"
    weights.write_bytes(b"not the file the card describes")
    write_card(cards, card_dict([file_entry(weights, sha256="0" * 64)]))
    result = runner.invoke(app, ["models", "fetch", "tiny-unet", "--quiet"])
    _assert_one_line_error(result, "Checksum mismatch for 'weights.pt'", "expected SHA-256 " + "0" * 64)
    assert not list((tmp_path / "cache").rglob("weights.pt")), "the bad file is deleted"


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("true",))


@pytest.mark.filterwarnings("ignore:Detected pickle protocol:UserWarning")
def test_segment_with_an_unsafe_pickle_file(cards: Path, tmp_path: Path, spect_file: Path):
    pytest.importorskip("torch")
    weights = tmp_path / "evil.pt"
    weights.write_bytes(pickle.dumps(_RunsCode()))
    write_card(cards, card_dict([file_entry(weights)], input={
        "modality": "NM", "intensity": {"normalisation": "none"}, "patch_size": [16, 16, 16]}))
    out = tmp_path / "out.seg.nrrd"
    result = runner.invoke(app, ["segment", "tiny-unet", str(spect_file), "-o", str(out), "--quiet", "--device", "cpu"])
    _assert_one_line_error(result, "Refused to load evil.pt")
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_segment_with_the_wrong_modality_fails_before_loading(cards: Path, tmp_path: Path, spect_file: Path):
    weights = tmp_path / "weights.pt"
    weights.write_bytes(b"never read")
    write_card(cards, card_dict([file_entry(weights)]))  # a CT model
    result = runner.invoke(app, ["segment", "tiny-unet", str(spect_file), "-o", str(tmp_path / "o.seg.nrrd"), "-q"])
    _assert_one_line_error(result, "expects a CT image", "is NM")
    assert not (tmp_path / "cache").exists(), "nothing fetched for an input the model cannot take"


def test_missing_input_files(tmp_path: Path, spect_file: Path):
    missing = tmp_path / "nope.nrrd"
    out = tmp_path / "plan"
    result = runner.invoke(app, ["y90", "--spect", str(missing), "--segmentation", str(missing), "-o", str(out), "-q"])
    _assert_one_line_error(result, "nope.nrrd")
    assert not out.exists() and list(tmp_path.iterdir()) == []
    result = runner.invoke(app, ["segment", "any", str(missing), "-o", str(tmp_path / "x.seg.nrrd"), "-q"])
    _assert_one_line_error(result)
    result = runner.invoke(app, ["y90", "--spect", str(spect_file), "--segmentation", str(spect_file), "-o",
                                 str(out), "-q", "--method", "nonsense"])
    _assert_one_line_error(result, "nonsense")


def test_multi_line_messages_become_one_line():
    from HCCInterventionalAILib.cli import one_line
    from HCCInterventionalAILib.models import ModelCardError, UnknownModelError

    error = ModelCardError("card.json", [("files[0].sha256", "must be 64 hex digits"), ("id", "missing")])
    assert one_line(error) == "Invalid model card card.json: files[0].sha256: must be 64 hex digits; id: missing"
    assert one_line(UnknownModelError("No model card 'x'")) == "No model card 'x'"
    assert one_line("--size must be 'standard' or 'small'") == "--size must be 'standard' or 'small'"


def test_shared_cli_imports_no_capability_library():
    """The shared CLI's modules import no capability package (they reach capabilities through entry points)."""
    for path in CLI_FOLDER.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not [n for n in names if n.split(".")[0] in CAPABILITY_PACKAGES], f"{path.name} imports {names}"


class _Entry:
    def __init__(self, name: str, register):
        self.name, self.value, self._register = name, f"tests:{name}", register

    def load(self):
        return self._register


def test_capability_commands_register_through_entry_points(monkeypatch, tmp_path: Path):
    """A capability-style command registered like an entry point: its ValueError-derived error is one line
    (exit 2) through user_errors, its output is atomic, and a second command of the same name is refused."""
    class CapabilityInputError(ValueError):
        pass

    def register(root: typer.Typer) -> None:
        @root.command("ablation")
        def ablation(output: Path, fail: bool = False, overwrite: OverwriteOption = False) -> None:
            """Toy capability command."""
            with user_errors(output), atomic_output(output, overwrite=overwrite) as staging:
                (staging / "zone.nrrd").write_text("zone")
                if fail:
                    raise CapabilityInputError("The applicator tip lies outside the liver")
            typer.echo(f"Outputs in {output}")

    monkeypatch.setattr(cli_main, "entry_points", lambda group: [_Entry("ablation", register)])
    root = typer.Typer()

    @root.command()
    def version() -> None:
        """Placeholder so that the app has more than one command."""

    assert cli_main.register_commands(root) == ["ablation"]
    result = runner.invoke(root, ["ablation", str(tmp_path / "zone"), "--fail"])
    _assert_one_line_error(result, "The applicator tip lies outside the liver")
    assert list(tmp_path.iterdir()) == []
    assert runner.invoke(root, ["ablation", str(tmp_path / "zone")]).exit_code == 0
    assert (tmp_path / "zone" / "zone.nrrd").read_text() == "zone"

    monkeypatch.setattr(cli_main, "entry_points", lambda group: [_Entry("again", register)])
    with pytest.raises(RuntimeError, match="already exist: ablation"):
        cli_main.register_commands(root)


def test_the_installed_entry_points_provide_y90():
    from importlib.metadata import entry_points

    names = {e.name: e.value for e in entry_points(group=cli_main.COMMANDS_GROUP)}
    assert names.get("y90") == "Y90DosimetryLib.cli:register", "reinstall: pip install --no-deps -e ."
    assert "y90" in [c.name for c in app.registered_commands]
