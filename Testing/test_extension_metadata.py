"""Extension metadata (issue 11): the Slicer Extensions Index description file, the CMake metadata of the
top-level CMakeLists.txt and pyproject.toml agree (name, version, dependencies, category, homepage), the
description file follows Slicer's catalog entry schema, and the licence is Apache-2.0.

The schema below is Slicer's ``Schemas/slicer-extension-catalog-entry-schema-v1.0.2.json`` (Slicer/Slicer, main),
transcribed here so that the test needs no network; the description file names the same version in ``$schema``.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import jsonschema
import pytest

ROOT = Path(__file__).resolve().parents[1]
INDEX_FILE = ROOT / "Resources" / "ExtensionsIndex" / "HCCInterventionalAI.json"
SCHEMA_URL = "https://raw.githubusercontent.com/Slicer/Slicer/main/Schemas/slicer-extension-catalog-entry-schema-v1.0.2.json#"

# Slicer's catalog entry schema v1.0.2 (titles and descriptions left out).
CATALOG_ENTRY_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema",
    "type": "object",
    "required": ["$schema", "category", "scm_url"],
    "additionalProperties": False,
    "properties": {
        "$schema": {"type": "string"},
        "category": {"type": "string"},
        "scm_url": {"type": "string"},
        "scm_revision": {"type": "string"},
        "scm_type": {"type": "string", "enum": ["git", "local"]},
        "build_dependencies": {"type": "array", "items": {"type": "string"}},
        "dicom_support_rule": {"type": "string"},
        "build_subdirectory": {"type": "string"},
        "enabled": {"type": "boolean"},
        "tier": {"type": "integer", "minimum": 1, "maximum": 5},
    },
}


def _pyproject() -> dict:
    if sys.version_info < (3, 11):  # pragma: no cover
        pytest.skip("tomllib needs Python 3.11")
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def _cmake() -> dict[str, str]:
    """``set(EXTENSION_X value)`` lines and the project() name/version of the top-level CMakeLists.txt."""
    text = (ROOT / "CMakeLists.txt").read_text(encoding="utf-8")
    values = {name: value.strip() for name, value in re.findall(
        r'^\s*set\((EXTENSION_[A-Z_]+)\s+"?([^"\n)]*)"?\)', text, flags=re.MULTILINE)}
    project = re.search(r"^\s*project\((\w+)(?:\s+VERSION\s+([\d.]+))?\)", text, flags=re.MULTILINE)
    assert project, "CMakeLists.txt has no project() line"
    values["PROJECT_NAME"], values["PROJECT_VERSION"] = project.group(1), project.group(2) or ""
    return values


def _index() -> dict:
    return json.loads(INDEX_FILE.read_text(encoding="utf-8"))


def _normalise(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def _requirement_name(requirement: str) -> str:
    return _normalise(re.split(r"[<>=!~\[; ]", requirement.strip(), maxsplit=1)[0])


def test_index_file_follows_the_catalog_schema() -> None:
    """The description file validates against schema v1.0.2 and names it; scm_url is a git URL."""
    entry = _index()
    jsonschema.validate(entry, CATALOG_ENTRY_SCHEMA)
    assert entry["$schema"] == SCHEMA_URL
    assert entry["scm_url"].startswith("https://github.com/") and entry["scm_url"].endswith(".git")
    assert entry.get("scm_type", "git") == "git" and entry["scm_revision"]


def test_name_and_version_agree() -> None:
    """CMake project == index file name == pyproject name (ignoring case and '-'); one version everywhere."""
    cmake, project = _cmake(), _pyproject()["project"]
    assert cmake["PROJECT_NAME"] == INDEX_FILE.stem == "HCCInterventionalAI"
    assert _normalise(project["name"]) == _normalise(cmake["PROJECT_NAME"])
    import HCCInterventionalAILib

    assert cmake["PROJECT_VERSION"] == project["version"] == HCCInterventionalAILib.__version__


def test_dependencies_agree() -> None:
    """Slicer extension dependencies: CMake EXTENSION_DEPENDS == index build_dependencies == {PyTorch}, because
    pyproject's ``ai`` extra needs torch. The modules' requirements files list only packages pyproject declares
    and never torch (that comes from the PyTorch extension)."""
    cmake, project = _cmake(), _pyproject()["project"]
    depends = cmake["EXTENSION_DEPENDS"].split("#", 1)[0].split()
    assert depends == _index()["build_dependencies"] == ["PyTorch"]
    assert "torch" in {_requirement_name(r) for r in project["optional-dependencies"]["ai"]}
    declared = {_requirement_name(r) for r in project["dependencies"]}
    declared |= {_requirement_name(r) for extra in project["optional-dependencies"].values() for r in extra}
    requirement_files = sorted(ROOT.glob("*/Resources/requirements*.txt"))
    assert len(requirement_files) >= 3
    for path in requirement_files:
        names = {_requirement_name(line.split("#", 1)[0]) for line in path.read_text().splitlines()
                 if line.split("#", 1)[0].strip()}
        assert names <= declared, f"{path.relative_to(ROOT)} lists packages pyproject does not: {names - declared}"
        assert "torch" not in names


def test_category_homepage_and_urls_agree() -> None:
    """Category equal in CMake and index; homepage equal in CMake and pyproject; scm_url is homepage + '.git';
    icon and screenshot URLs are raw GitHub URLs of that repository's main branch naming PNG files that exist
    here at those paths (so they resolve once the repository is published)."""
    cmake, project, entry = _cmake(), _pyproject()["project"], _index()
    assert cmake["EXTENSION_CATEGORY"] == entry["category"] and entry["category"]
    homepage = cmake["EXTENSION_HOMEPAGE"]
    assert project["urls"]["Homepage"] == homepage
    assert entry["scm_url"] == homepage + ".git"
    owner_repo = homepage.removeprefix("https://github.com/")
    raw = f"https://raw.githubusercontent.com/{owner_repo}/{entry['scm_revision']}/"
    urls = [cmake["EXTENSION_ICONURL"], *cmake["EXTENSION_SCREENSHOTURLS"].split()]
    assert len(urls) >= 2
    for url in urls:
        assert url.startswith(raw), url
        path = ROOT / url.removeprefix(raw)
        assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", url
    assert cmake["EXTENSION_CONTRIBUTORS"] and len(cmake["EXTENSION_DESCRIPTION"]) > 50
    assert cmake["EXTENSION_CONTRIBUTORS"] == project["authors"][0]["name"]


def test_licence_is_apache_2() -> None:
    """LICENSE is the Apache License 2.0 text (title, version line and its nine numbered sections) and pyproject
    declares the same licence."""
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "http://www.apache.org/licenses/" in text
    sections = ["Definitions", "Grant of Copyright License", "Grant of Patent License", "Redistribution",
                "Submission of Contributions", "Trademarks", "Disclaimer of Warranty", "Limitation of Liability",
                "Accepting Warranty or Additional Liability"]
    for number, title in enumerate(sections, start=1):
        assert re.search(rf"^\s*{number}\. {title}\.", text, flags=re.MULTILINE), title
    assert _pyproject()["project"]["license"] in ({"text": "Apache-2.0"}, "Apache-2.0")
