"""Packaging of the Slicer extension, checked statically (no CMake, no Slicer needed).

* Each module's ``CMakeLists.txt`` lists in ``SCRIPTS`` every ``.py`` file of the module and of its library
  package (recursively), and in ``RESOURCES`` every other file of ``Resources/`` and of the library package:
  what is not listed is missing from the packaged extension, what is listed but absent breaks the build.
* Every folder of a library package that holds Python files is a regular package (has ``__init__.py``).
* The top-level ``CMakeLists.txt`` carries the extension metadata and adds every module.
* Each module file defines the template's classes (``X``, ``XParameterNode``, ``XWidget``, ``XLogic``,
  ``XTest``) with the right bases, checked with ``ast`` (the module files need Qt and cannot be imported here).
* Icons are 128×128 PNG files; ``requirements.txt`` files pin nothing exactly and list nothing Slicer bundles.
"""

from __future__ import annotations

import ast
import re
import struct
from pathlib import Path

import pytest
from packaging_lists import MODULES, ROOT, expected_lists
from packaging_lists import package_files as _files


# -- CMake parsing -----------------------------------------------------------------------------------------
def _strip_comments(text: str) -> str:
    """Drop ``#`` comments (outside quoted arguments)."""
    lines = []
    for line in text.splitlines():
        in_quotes = False
        for index, char in enumerate(line):
            if char == '"':
                in_quotes = not in_quotes
            elif char == "#" and not in_quotes:
                line = line[:index]
                break
        lines.append(line)
    return "\n".join(lines)


def _calls(text: str, command: str) -> list[list[str]]:
    """Arguments (tokens, quotes removed) of every call to ``command``; quoted arguments may hold parentheses."""
    calls = []
    for match in re.finditer(rf"\b{re.escape(command)}\s*\(", text, flags=re.I):
        depth, in_quotes, index = 1, False, match.end()
        while index < len(text) and depth:
            char = text[index]
            if char == '"':
                in_quotes = not in_quotes
            elif not in_quotes:
                depth += {"(": 1, ")": -1}.get(char, 0)
            index += 1
        body = text[match.end():index - 1]
        calls.append([t[1:-1] if t.startswith('"') else t for t in re.findall(r'"[^"]*"|[^\s"]+', body)])
    return calls


def _variables(text: str) -> dict[str, list[str]]:
    variables: dict[str, list[str]] = {}
    for args in _calls(text, "set"):
        if args:
            variables[args[0]] = args[1:]
    return variables


def _expand(tokens: list[str], variables: dict[str, list[str]]) -> list[str]:
    out: list[str] = []
    for token in tokens:
        whole = re.fullmatch(r"\$\{(\w+)\}", token)
        if whole and whole.group(1) in variables and len(variables[whole.group(1)]) != 1:
            out.extend(_expand(variables[whole.group(1)], variables))
            continue
        out.append(re.sub(r"\$\{(\w+)\}", lambda m: " ".join(variables.get(m.group(1), [m.group(0)])), token))
    return out


def module_cmake_lists(module: str) -> tuple[str, list[str], list[str], str]:
    """(NAME, SCRIPTS, RESOURCES, raw text) of a module's ``slicerMacroBuildScriptedModule`` call."""
    text = _strip_comments((ROOT / module / "CMakeLists.txt").read_text(encoding="utf-8"))
    variables = _variables(text)
    calls = _calls(text, "slicerMacroBuildScriptedModule")
    # One call for the folder's module; further calls only for other module files in the same folder
    # (e.g. HCCRadiomics.py beside HCCInterventionalAI.py), each building just its own script.
    own = [c for c in calls if c[c.index("NAME") + 1] == "${MODULE_NAME}"] if calls else []
    assert len(own) == 1, f"{module}/CMakeLists.txt must call slicerMacroBuildScriptedModule once for itself"
    for other in (c for c in calls if c is not own[0]):
        name = other[other.index("NAME") + 1]
        assert (ROOT / module / f"{name}.py").is_file() and other[other.index("SCRIPTS") + 1] == f"{name}.py"
        assert "RESOURCES" not in other, f"{name}: its resources are installed by the {module} call"
    sections: dict[str, list[str]] = {}
    current = None
    for token in own[0]:
        if token in {"NAME", "SCRIPTS", "RESOURCES", "WITH_GENERIC_TESTS", "WITH_SUBDIR", "VERBOSE"}:
            current = token
            sections.setdefault(token, [])
        elif current is not None:
            sections[current].append(token)
    name = _expand(sections.get("NAME", []), variables)
    scripts = _expand(sections.get("SCRIPTS", []), variables)
    resources = _expand(sections.get("RESOURCES", []), variables)
    return (name[0] if name else ""), scripts, resources, text


def _cmake_block(variable: str, paths: list[str]) -> str:
    return f"set({variable}\n" + "".join(f"  {p}\n" for p in paths) + "  )"


@pytest.mark.parametrize("module", MODULES)
def test_cmake_lists_match_files_on_disk(module):
    name, scripts, resources, _ = module_cmake_lists(module)
    assert name == module
    want_scripts, want_resources = expected_lists(module)
    problems = []
    for kind, listed, wanted in (("SCRIPTS", scripts, want_scripts), ("RESOURCES", resources, want_resources)):
        normalised = [p if p.endswith(".py") or kind == "RESOURCES" else f"{p}.py" for p in listed]
        missing = sorted(set(wanted) - set(normalised))
        extra = sorted(set(normalised) - set(wanted))
        duplicated = sorted({p for p in normalised if normalised.count(p) > 1})
        if missing:
            problems.append(f"{kind} is missing (on disk, not packaged): {missing}")
        if extra:
            problems.append(f"{kind} lists files that do not exist: {extra}")
        if duplicated:
            problems.append(f"{kind} lists twice: {duplicated}")
    assert not problems, (
        f"{module}/CMakeLists.txt is out of date:\n  " + "\n  ".join(problems)
        + "\nUp-to-date lists:\n" + _cmake_block("MODULE_PYTHON_SCRIPTS", want_scripts)
        + "\n\n" + _cmake_block("MODULE_PYTHON_RESOURCES", want_resources)
    )


@pytest.mark.parametrize("module", MODULES)
def test_library_folders_are_regular_packages(module):
    lib = ROOT / module / f"{module}Lib"
    assert (lib / "__init__.py").is_file(), f"{lib} needs an __init__.py"
    folders = sorted({p.parent for p in _files(lib) if p.suffix == ".py"})
    lacking = [f.relative_to(ROOT).as_posix() for f in folders if not (f / "__init__.py").is_file()]
    assert not lacking, f"Python folders without __init__.py (namespace packages are not packaged reliably): {lacking}"


@pytest.mark.parametrize("module", MODULES)
def test_module_cmake_follows_the_template(module):
    _, _, resources, text = module_cmake_lists(module)
    assert re.search(rf"set\(\s*MODULE_NAME\s+{module}\s*\)", text), "MODULE_NAME must be the folder name"
    assert "WITH_GENERIC_TESTS" in text
    assert re.search(r"slicer_add_python_unittest\(\s*SCRIPT\s+\$\{MODULE_NAME\}\.py\s*\)", text), (
        "the module's self test must be registered with slicer_add_python_unittest(SCRIPT ${MODULE_NAME}.py)"
    )
    assert re.search(r"add_subdirectory\(\s*Testing\s*\)", text)
    for needed in (f"Resources/Icons/{module}.png", f"Resources/UI/{module}.ui", "Resources/requirements.txt"):
        assert needed in resources, f"{needed} must be listed in RESOURCES"
        assert (ROOT / module / needed).is_file(), f"{module}/{needed} is missing"
    testing = (ROOT / module / "Testing" / "CMakeLists.txt").read_text(encoding="utf-8")
    assert re.search(r"add_subdirectory\(\s*Python\s*\)", testing)
    assert (ROOT / module / "Testing" / "Python" / "CMakeLists.txt").is_file()


def test_extension_cmake():
    text = _strip_comments((ROOT / "CMakeLists.txt").read_text(encoding="utf-8"))
    variables = _variables(text)
    assert re.search(r"cmake_minimum_required\(\s*VERSION\s+3\.\d+", text)
    assert [args[0] for args in _calls(text, "project")] == ["HCCInterventionalAI"]  # VERSION: extension metadata test
    for key in ("EXTENSION_HOMEPAGE", "EXTENSION_CATEGORY", "EXTENSION_CONTRIBUTORS", "EXTENSION_DESCRIPTION",
                "EXTENSION_ICONURL", "EXTENSION_SCREENSHOTURLS", "EXTENSION_DEPENDS"):
        assert variables.get(key) and " ".join(variables[key]).strip(), f"{key} is not set"
    assert variables["EXTENSION_HOMEPAGE"][0].startswith("https://")
    assert variables["EXTENSION_CATEGORY"] == ["IGT"]
    assert "Quantification" in " ".join(variables["EXTENSION_DESCRIPTION"])
    assert "PyTorch" in variables["EXTENSION_DEPENDS"]
    assert all(url.startswith("https://") for url in variables["EXTENSION_ICONURL"] + variables["EXTENSION_SCREENSHOTURLS"])
    assert _calls(text, "find_package") == [["Slicer", "REQUIRED"]]
    includes = [args[0] for args in _calls(text, "include")]
    assert includes == ["${Slicer_USE_FILE}", "${Slicer_EXTENSION_GENERATE_CONFIG}", "${Slicer_EXTENSION_CPACK}"]
    subdirectories = [args[0] for args in _calls(text, "add_subdirectory")]
    assert sorted(subdirectories) == sorted(MODULES)


#: Top-level resource folders the libraries read at run time (model cards, presets): they must be installed.
SHARED_RESOURCE_DIRS = ["Resources/ModelCards", "Resources/Presets"]


def test_extension_installs_the_shared_resources():
    text = _strip_comments((ROOT / "CMakeLists.txt").read_text(encoding="utf-8"))
    listed = _variables(text).get("EXTENSION_SHARED_RESOURCE_DIRS", [])
    assert sorted(listed) == sorted(SHARED_RESOURCE_DIRS)
    for folder in listed:
        assert (ROOT / folder).is_dir(), f"{folder} is installed but does not exist"
        assert any(p.is_file() for p in (ROOT / folder).iterdir()), f"{folder} is empty"
    install_calls = [args for args in _calls(text, "install") if args and args[0] == "DIRECTORY"]
    assert install_calls, "the shared resource folders must be installed"
    # Installed next to qt-scripted-modules/ (<lib/Slicer-X.Y>/Resources), where the libraries look for them
    # (HCCInterventionalAILib/models: parents[3] / "Resources"; Y90DosimetryLib/presets: parents[2] / "Resources").
    assert re.search(r"get_filename_component\(\s*_shared_resources_install_dir\s+"
                     r"\$\{Slicer_INSTALL_QTSCRIPTEDMODULES_LIB_DIR\}\s+DIRECTORY\s*\)", text)
    assert any("${_shared_resources_install_dir}/Resources" in args for args in install_calls)


# -- module files -------------------------------------------------------------------------------------------
def _base_names(node: ast.ClassDef) -> list[str]:
    return [b.attr if isinstance(b, ast.Attribute) else getattr(b, "id", "") for b in node.bases]


def _decorator_names(node: ast.ClassDef) -> list[str]:
    names = []
    for d in node.decorator_list:
        d = d.func if isinstance(d, ast.Call) else d
        names.append(d.attr if isinstance(d, ast.Attribute) else getattr(d, "id", ""))
    return names


@pytest.mark.parametrize("module", MODULES)
def test_module_file_has_the_template_classes(module):
    tree = ast.parse((ROOT / module / f"{module}.py").read_text(encoding="utf-8"))
    classes = {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}
    expected = {
        module: ["ScriptedLoadableModule"],
        f"{module}Widget": ["ScriptedLoadableModuleWidget", "VTKObservationMixin"],
        f"{module}Logic": ["ScriptedLoadableModuleLogic"],
        f"{module}Test": ["ScriptedLoadableModuleTest"],
        f"{module}ParameterNode": [],
    }
    for name, bases in expected.items():
        assert name in classes, f"{module}.py has no class {name}"
        assert all(b in _base_names(classes[name]) for b in bases), f"{name} must derive from {bases}"
    assert "parameterNodeWrapper" in _decorator_names(classes[f"{module}ParameterNode"])
    logic = classes[f"{module}Logic"]
    methods = {n.name for n in logic.body if isinstance(n, ast.FunctionDef)}
    assert "getParameterNode" in methods
    # Logic methods are documented for use from the Python console.
    undocumented = [n.name for n in logic.body if isinstance(n, ast.FunctionDef) and not n.name.startswith("_")
                    and not ast.get_docstring(n)]
    assert not undocumented, f"{module}Logic methods without a docstring: {undocumented}"


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG file"
    return struct.unpack(">II", header[16:24])


@pytest.mark.parametrize("module", MODULES)
def test_icon(module):
    assert _png_size(ROOT / module / "Resources" / "Icons" / f"{module}.png") == (128, 128)


#: Packages Slicer ships (or the PyTorch extension provides): never install them into Slicer.
BUNDLED = {"numpy", "scipy", "simpleitk", "vtk", "slicer-core", "slicer", "torch", "torchvision", "pydicom",
           "dicomweb-client", "requests", "packaging", "pillow", "qt", "ctk", "pip", "setuptools"}


@pytest.mark.parametrize("module", MODULES)
def test_requirements(module):
    files = sorted((ROOT / module / "Resources").glob("requirements*.txt"))
    assert ROOT / module / "Resources" / "requirements.txt" in files
    lines = [line for path in files for line in path.read_text(encoding="utf-8").splitlines()]
    requirements = [line.split("#", 1)[0].strip() for line in lines]
    requirements = [r for r in requirements if r]
    for requirement in requirements:
        assert "==" not in requirement, f"{module} pins {requirement} exactly"
        name = re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower()
        assert name not in BUNDLED, f"{module} asks to install {name}, which Slicer or the PyTorch extension provides"


def test_module_resources_do_not_collide():
    """Installed, all modules' resources share one folder (<qt-scripted-modules>/Resources): a file that two
    modules both ship at the same relative path must be identical, or one silently replaces the other."""
    seen: dict[str, tuple[str, bytes]] = {}
    clashes = []
    for module in MODULES:
        _, _, resources, _ = module_cmake_lists(module)
        for resource in resources:
            content = (ROOT / module / resource).read_bytes()
            if resource in seen and seen[resource][1] != content:
                clashes.append(f"{resource}: {seen[resource][0]} and {module} differ")
            seen.setdefault(resource, (module, content))
    assert not clashes, "Resources that overwrite each other when installed:\n" + "\n".join(clashes)


INSTALLED_LAYOUT_CHECK = """
import json, sys
root = sys.argv[1]
sys.path.insert(0, root)
from HCCInterventionalAILib.models.card import schema_path
from HCCInterventionalAILib.models.registry import default_card_directories
from Y90DosimetryLib.presets import microsphere, presets_dir
import AblationSimulatorLib, HCCInterventionalAILib, Y90DosimetryLib
print(json.dumps({
    "files": [m.__file__ for m in (AblationSimulatorLib, HCCInterventionalAILib, Y90DosimetryLib)],
    "schema": schema_path().is_file(),
    "cards": default_card_directories()[0].is_dir(),
    "presets": presets_dir().is_dir(),
    "glass": microsphere("glass").name,
}))
"""


def test_installed_layout_finds_the_shared_resources(tmp_path):
    """Lay the files out as the extension installs them (module files and resources in qt-scripted-modules/,
    shared resources in lib/Slicer-X.Y/Resources/) and check that the libraries, imported from there, find
    their model-card schema, card folder and presets."""
    import json
    import shutil
    import subprocess
    import sys

    modules_dir = tmp_path / "lib" / "Slicer-5.10" / "qt-scripted-modules"
    for module in MODULES:
        _, scripts, resources, _ = module_cmake_lists(module)
        for relative in scripts + resources:
            target = modules_dir / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / module / relative, target)
    for folder in SHARED_RESOURCE_DIRS:
        shutil.copytree(ROOT / folder, modules_dir.parent / folder)
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("HCCAI_")}
    completed = subprocess.run([sys.executable, "-c", INSTALLED_LAYOUT_CHECK, str(modules_dir)],
                               capture_output=True, text=True, timeout=120, env=env)
    assert completed.returncode == 0, completed.stderr[-3000:]
    found = json.loads(completed.stdout.strip().splitlines()[-1])
    assert all(path.startswith(str(modules_dir)) for path in found["files"]), found["files"]
    assert found["schema"] and found["cards"] and found["presets"], found
    assert found["glass"] == "glass"
