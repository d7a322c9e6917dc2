"""The module GUIs checked statically: Qt cannot run here, so the wiring is read from the files.

For each module:
* its ``.ui`` file is Qt Designer XML (``<ui version="4.0">``, top-level ``qMRMLWidget`` named after the
  module, unique widget names, every non-Qt widget class declared as a custom widget, every MRML widget
  given the scene through a ``mrmlSceneChanged`` → ``setMRMLScene`` connection);
* every ``self.ui.<name>`` the module file uses names a widget of the ``.ui``;
* every ``SlicerParameterName`` names a field of the module's ``@parameterNodeWrapper`` class (parsed with
  ``ast``), on a widget class that the parameter node wrapper can connect to that field's type (a slider
  needs a bounded field, a node combo box must offer the field's node class);
* enums of the parameter node are defined in the module file (the module must load before the libraries are
  installed), with stable upper-case member names: enums are stored by member name in saved scenes, so the
  names pinned below may gain company but never disappear;
* the module file imports none of our libraries, nor torch/monai/pandas, at module level, except the shared
  Slicer-side helpers (``HCCInterventionalAILib.slicer_helpers``), which import only the standard library.
"""

from __future__ import annotations

import ast
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = ["HCCInterventionalAI", "AblationSimulator", "Y90Dosimetry", "HCCRadiomics", "HCCImageEnhancement"]
#: Modules that live in another module's folder (same library).
FOLDER = {"HCCRadiomics": "HCCInterventionalAI", "HCCImageEnhancement": "HCCInterventionalAI"}

#: Member names of the parameter-node enums as released; saved scenes refer to them by name.
STABLE_ENUM_MEMBERS = {
    "HCCInterventionalAI": {"SampleSize": {"STANDARD", "SMALL"}, "ComputeDevice": {"AUTO", "CPU", "CUDA"}},
    "Y90Dosimetry": {
        "ActivityImage": {"MAA_SPECT", "Y90_PET", "Y90_BREMSSTRAHLUNG"},
        "DosimetryMethod": {"MIRD", "BSA", "PARTITION", "MULTI_COMPARTMENT"},
        "Microsphere": {"GLASS", "RESIN"},
        "DoseTarget": {"NORMAL_LIVER", "TUMOUR"},
        "DoseConstantPreset": {"CONVENTIONAL", "THERASPHERE_IFU", "FIRST_PRINCIPLES"},
        "VoxelDosimetry": {"KERNEL", "LOCAL", "NONE"},
    },
}

#: Widget classes the parameter node wrapper connects to each plain type (slicer/parameterNodeWrapper/guiConnectors.py).
CONNECTABLE = {
    "bool": {"QCheckBox", "ctkCheckBox", "QPushButton", "ctkCheckablePushButton"},
    "int": {"QSpinBox", "QSlider", "QDoubleSpinBox", "ctkSliderWidget", "qMRMLSliderWidget", "ctkDoubleSlider",
            "ctkDoubleSpinBox", "qMRMLSpinBox"},
    "float": {"QDoubleSpinBox", "ctkSliderWidget", "qMRMLSliderWidget", "ctkDoubleSlider", "ctkDoubleSpinBox",
              "qMRMLSpinBox"},
    "str": {"QLineEdit", "QLabel", "QTextEdit"},
    "Path": {"ctkPathLineEdit", "ctkDirectoryButton"},
    "enum": {"QComboBox", "ctkComboBox"},
    "node": {"qMRMLNodeComboBox"},
}
SLIDERS = {"QSlider", "ctkSliderWidget", "qMRMLSliderWidget"}

#: Never imported at the top of a module file (lazy imports keep the module loadable before installation).
LAZY_ONLY = {"HCCInterventionalAILib", "AblationSimulatorLib", "Y90DosimetryLib", "torch", "monai", "pandas",
             "highdicom", "jsonschema", "yaml", "numpy", "SimpleITK"}

#: Library modules that module files MAY import at module level (for the enum labels the classes need when they
#: are defined): they and their packages import only the standard library at the top (checked below), so the
#: module still loads before its requirements are installed. Y90Dosimetry and AblationSimulator declare the
#: HCCInterventionalAI module as a dependency, so Slicer has put this library on the path when they load.
MODULE_LEVEL_LIBRARY_IMPORTS = {
    "HCCInterventionalAILib.slicer_helpers": [ROOT / "HCCInterventionalAI" / "HCCInterventionalAILib" / "__init__.py",
                                              ROOT / "HCCInterventionalAI" / "HCCInterventionalAILib" / "slicer_helpers.py"],
}


# -- helpers ---------------------------------------------------------------------------------------------
def _ui_tree(module: str) -> ET.Element:
    return ET.parse(ROOT / FOLDER.get(module, module) / "Resources" / "UI" / f"{module}.ui").getroot()


def _widgets(root: ET.Element) -> list[ET.Element]:
    return list(root.iter("widget"))


def _property(widget: ET.Element, name: str) -> ET.Element | None:
    for prop in widget.findall("property"):
        if prop.get("name") == name:
            return prop
    return None


def _module_tree(module: str) -> ast.Module:
    return ast.parse((ROOT / FOLDER.get(module, module) / f"{module}.py").read_text(encoding="utf-8"))


def _classes(tree: ast.Module) -> dict[str, ast.ClassDef]:
    return {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}


def check_template_module(module_file: Path, module: str, max_lines: int = 600) -> None:
    """``module_file`` defines Slicer's scripted-module template classes (X, XWidget, XLogic, XTest,
    XParameterNode) and stays under ``max_lines`` lines (used by the per-module test files)."""
    text = module_file.read_text(encoding="utf-8")
    names = set(_classes(ast.parse(text)))
    assert {module, f"{module}Widget", f"{module}Logic", f"{module}Test", f"{module}ParameterNode"} <= names
    assert len(text.splitlines()) < max_lines


def _enum_classes(tree: ast.Module) -> dict[str, ast.ClassDef]:
    enums = {}
    for name, node in _classes(tree).items():
        bases = [b.attr if isinstance(b, ast.Attribute) else getattr(b, "id", "") for b in node.bases]
        if any(b in {"Enum", "StrEnum", "IntEnum"} for b in bases):
            enums[name] = node
    return enums


def _enum_members(node: ast.ClassDef) -> list[str]:
    members = []
    for statement in node.body:
        if isinstance(statement, ast.Assign):
            members += [t.id for t in statement.targets if isinstance(t, ast.Name)]
        elif isinstance(statement, ast.AnnAssign) and statement.value is not None and isinstance(statement.target, ast.Name):
            members.append(statement.target.id)
    return [m for m in members if not m.startswith("_")]


def _unwrap(annotation: ast.expr) -> tuple[list[str], list[str]]:
    """(type names, annotation-call names) of an annotation: ``Annotated[float, WithinRange(0, 1)]`` →
    (["float"], ["WithinRange"]); unions give several type names."""
    if isinstance(annotation, ast.Subscript) and getattr(annotation.value, "id", "") == "Annotated":
        elements = annotation.slice.elts if isinstance(annotation.slice, ast.Tuple) else [annotation.slice]
        types, _ = _unwrap(elements[0])
        calls = [getattr(e.func, "id", getattr(e.func, "attr", "")) for e in elements[1:] if isinstance(e, ast.Call)]
        return types, calls
    if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
        left, _ = _unwrap(annotation.left)
        right, _ = _unwrap(annotation.right)
        return [t for t in left + right if t != "None"], []
    if isinstance(annotation, ast.Subscript) and getattr(annotation.value, "id", "") in {"Optional", "Union"}:
        elements = annotation.slice.elts if isinstance(annotation.slice, ast.Tuple) else [annotation.slice]
        return [t for e in elements for t in _unwrap(e)[0] if t != "None"], []
    if isinstance(annotation, ast.Attribute):
        return [annotation.attr], []
    if isinstance(annotation, ast.Name):
        return [annotation.id], []
    if isinstance(annotation, ast.Constant) and annotation.value is None:
        return ["None"], []
    raise AssertionError(f"Unsupported parameter annotation: {ast.unparse(annotation)}")


def parameter_fields(module: str) -> dict[str, ast.AnnAssign]:
    tree = _module_tree(module)
    node = _classes(tree)[f"{module}ParameterNode"]
    return {s.target.id: s for s in node.body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)}


def _kind(type_name: str, enums: set[str]) -> str:
    if type_name in enums:
        return "enum"
    if type_name.startswith("vtkMRML"):
        return "node"
    return type_name


# -- tests -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("module", MODULES)
def test_ui_is_designer_xml(module):
    root = _ui_tree(module)
    assert root.tag == "ui" and root.get("version") == "4.0"
    assert root.findtext("class") == module
    top = root.find("widget")
    assert top is not None and top.get("class") == "qMRMLWidget" and top.get("name") == module
    names = [w.get("name") for w in _widgets(root)]
    assert all(names), "every widget needs a name"
    duplicates = sorted({n for n in names if names.count(n) > 1})
    assert not duplicates, f"duplicate widget names: {duplicates}"
    declared = {c.findtext("class") for c in root.iter("customwidget")}
    undeclared = sorted({w.get("class") for w in _widgets(root)
                         if not w.get("class").startswith("Q") and w.get("class") not in declared})
    assert not undeclared, f"custom widget classes not declared in <customwidgets>: {undeclared}"
    for prop in root.iter("property"):
        if prop.get("name") == "SlicerParameterName":
            assert prop.get("stdset") == "0", "SlicerParameterName must be a dynamic property (stdset=\"0\")"


@pytest.mark.parametrize("module", MODULES)
def test_mrml_widgets_get_the_scene(module):
    root = _ui_tree(module)
    receivers = {c.findtext("receiver") for c in root.iter("connection")
                 if c.findtext("sender") == module and c.findtext("signal") == "mrmlSceneChanged(vtkMRMLScene*)"
                 and c.findtext("slot") == "setMRMLScene(vtkMRMLScene*)"}
    mrml_widgets = {w.get("name") for w in _widgets(root) if w.get("class").startswith("qMRML") and w.get("name") != module}
    assert mrml_widgets <= receivers, f"MRML widgets without a scene connection: {sorted(mrml_widgets - receivers)}"


@pytest.mark.parametrize("module", MODULES)
def test_every_ui_attribute_exists(module):
    tree = _module_tree(module)
    used = {
        node.attr for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Attribute) and node.value.attr == "ui"
        and isinstance(node.value.value, ast.Name) and node.value.value.id == "self"
    }
    assert used, f"{module}.py uses no self.ui widgets?"
    names = {w.get("name") for w in _widgets(_ui_tree(module))}
    missing = sorted(used - names)
    assert not missing, f"{module}.py uses self.ui.<name> that its .ui lacks: {missing}"


@pytest.mark.parametrize("module", MODULES)
def test_parameter_names_match_the_parameter_node(module):
    fields = parameter_fields(module)
    tree = _module_tree(module)
    enums = set(_enum_classes(tree))
    problems = []
    bound = set()
    for widget in _widgets(_ui_tree(module)):
        prop = _property(widget, "SlicerParameterName")
        if prop is None:
            continue
        parameter = prop.findtext("string")
        bound.add(parameter)
        cls, name = widget.get("class"), widget.get("name")
        if parameter not in fields:
            problems.append(f"{name}: SlicerParameterName '{parameter}' is not a field of {module}ParameterNode")
            continue
        types, calls = _unwrap(fields[parameter].annotation)
        kinds = {_kind(t, enums) for t in types}
        if len(kinds) != 1:
            problems.append(f"{parameter}: mixed types {types}")
            continue
        kind = kinds.pop()
        allowed = CONNECTABLE.get(kind)
        if allowed is None:
            problems.append(f"{parameter}: type {types} has no GUI connector")
        elif cls not in allowed:
            problems.append(f"{name} ({cls}) cannot be connected to {parameter}: {kind} (use one of {sorted(allowed)})")
        if cls in SLIDERS and "WithinRange" not in calls and not {"Minimum", "Maximum"} <= set(calls):
            problems.append(f"{parameter} is shown with a slider, so it needs WithinRange(...) bounds")
        if kind == "node":
            node_types = _property(widget, "nodeTypes")
            offered = {s.text for s in node_types.iter("string")} if node_types is not None else set()
            if not set(types) <= offered:
                problems.append(f"{name} offers {sorted(offered)} but {parameter} holds {types}")
    assert not problems, "\n".join(problems)
    assert bound, f"{module}.ui binds no widget to the parameter node"


@pytest.mark.parametrize("module", MODULES)
def test_parameter_node_enums_are_stable(module):
    tree = _module_tree(module)
    enums = _enum_classes(tree)
    fields = parameter_fields(module)
    used = {t for f in fields.values() for t in _unwrap(f.annotation)[0]}
    for field_name, statement in fields.items():
        types, _ = _unwrap(statement.annotation)
        for type_name in types:
            if type_name in enums or type_name in STABLE_ENUM_MEMBERS.get(module, {}):
                assert type_name in enums, f"enum {type_name} must be defined in {module}.py (no library import)"
                value = statement.value
                if value is not None:
                    assert isinstance(value, ast.Attribute) and getattr(value.value, "id", "") == type_name, (
                        f"{field_name} defaults to {ast.unparse(value)}, not a member of {type_name}")
                    assert value.attr in _enum_members(enums[type_name])
    for enum_name, node in enums.items():
        members = _enum_members(node)
        assert members, f"{enum_name} has no members"
        assert len(members) == len(set(members))
        assert all(m.isupper() and m.isidentifier() for m in members), f"{enum_name} members must be UPPER_CASE"
    for enum_name, pinned in STABLE_ENUM_MEMBERS.get(module, {}).items():
        assert enum_name in enums and enum_name in used, f"{module}ParameterNode must use enum {enum_name}"
        lost = pinned - set(_enum_members(enums[enum_name]))
        assert not lost, f"{enum_name} lost members {sorted(lost)}: saved scenes store enums by member name"


@pytest.mark.parametrize("module", MODULES)
def test_libraries_are_imported_lazily(module):
    tree = _module_tree(module)
    top_level = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            top_level |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module not in MODULE_LEVEL_LIBRARY_IMPORTS:
            top_level.add(node.module.split(".")[0])
    assert not (top_level & LAZY_ONLY), (
        f"{module}.py imports {sorted(top_level & LAZY_ONLY)} at module level; import them inside methods so the "
        "module loads before its Python requirements are installed"
    )


@pytest.mark.parametrize("library_module", sorted(MODULE_LEVEL_LIBRARY_IMPORTS))
def test_module_level_library_imports_need_only_the_standard_library(library_module):
    """What module files import at their top must load in a bare Slicer: standard library only (``slicer``,
    Qt and VTK imported inside the functions; typing-only imports allowed)."""
    for path in MODULE_LEVEL_LIBRARY_IMPORTS[library_module]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imported = set()
        for node in tree.body:
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                imported.add(node.module.split(".")[0])
        third_party = sorted(imported - set(sys.stdlib_module_names) - {"__future__"})
        assert not third_party, f"{path.name} imports {third_party} at module level"


def _module_constant(module: str, name: str):
    for node in _module_tree(module).body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise AssertionError(f"{module}.py defines no {name}")


def test_y90_gui_bounds_agree_with_the_library():
    """The Y-90 GUI's input ranges are the ones the library accepts (the module cannot import the library
    when it loads, so it mirrors them; this keeps both in step)."""
    from Y90DosimetryLib import dubois_bsa, lung_dose
    from Y90DosimetryLib.errors import Y90InputError

    height = _module_constant("Y90Dosimetry", "HEIGHT_CM_RANGE")
    weight = _module_constant("Y90Dosimetry", "WEIGHT_KG_RANGE")
    for h, w in [(height[0], 70.0), (height[1], 70.0), (170.0, weight[0]), (170.0, weight[1])]:
        assert dubois_bsa(h, w) > 0
    for h, w in [(height[0] - 1, 70.0), (height[1] + 1, 70.0), (170.0, weight[0] - 1), (170.0, weight[1] + 1)]:
        with pytest.raises(Y90InputError):
            dubois_bsa(h, w)
    low, high = _module_constant("Y90Dosimetry", "LUNG_SHUNT_PERCENT_RANGE")
    assert low == 0.0 and high < 100.0
    for percent in (low, high):
        assert lung_dose(1.0, percent / 100.0, 1.0).dose_gy >= 0
    with pytest.raises(Y90InputError):
        lung_dose(1.0, 1.0, 1.0)  # LSF = 100 % is outside the library's [0, 1)
