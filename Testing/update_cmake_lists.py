"""Rewrite each module's CMakeLists.txt with complete SCRIPTS/RESOURCES lists (the files on disk).

Run after adding or removing library files: python Testing/update_cmake_lists.py [Module ...]
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from packaging_lists import MODULES, ROOT, expected_lists  # noqa: E402  (not a test module: no pytest)

TEMPLATE = """#-----------------------------------------------------------------------------
set(MODULE_NAME {module})

#-----------------------------------------------------------------------------
# Every Python file of the module and of its library package. Testing/test_module_packaging.py compares
# these lists with the files on disk and prints the up-to-date lists when they differ.
set(MODULE_PYTHON_SCRIPTS
{scripts}
  )

set(MODULE_PYTHON_RESOURCES
{resources}
  )

#-----------------------------------------------------------------------------
slicerMacroBuildScriptedModule(
  NAME ${{MODULE_NAME}}
  SCRIPTS ${{MODULE_PYTHON_SCRIPTS}}
  RESOURCES ${{MODULE_PYTHON_RESOURCES}}
  WITH_GENERIC_TESTS
  )
{extra_modules}
#-----------------------------------------------------------------------------
if(BUILD_TESTING)

  # Register the unittest subclass in the main script as a ctest.
  # Note that the test will also be available at runtime.
  slicer_add_python_unittest(SCRIPT ${{MODULE_NAME}}.py)
{extra_tests}
  # Additional build-time testing
  add_subdirectory(Testing)
endif()
"""


def fmt(paths, module):
    out = []
    for p in paths:
        if p == f"{module}.py":
            p = "${MODULE_NAME}.py"
        elif p.startswith(("Resources/Icons/", "Resources/UI/")) and p.rsplit("/", 1)[1].startswith(module + "."):
            p = p.replace(module + ".", "${MODULE_NAME}.", 1)
        out.append(f"  {p}")
    return "\n".join(out)


EXTRA_MODULE = """
#-----------------------------------------------------------------------------
# {name}: another scripted module in this folder, on the same library; its icon and .ui are in the
# RESOURCES above (installed once, beside both module files).
slicerMacroBuildScriptedModule(
  NAME {name}
  SCRIPTS {name}.py
  WITH_GENERIC_TESTS
  )
"""


def extra_modules(module):
    """Other scripted modules in the folder: top-level ``<Name>.py`` files besides ``<module>.py``."""
    return sorted(p.stem for p in (ROOT / module).glob("*.py") if p.stem != module and p.stem[:1].isupper())


for module in sys.argv[1:] or MODULES:
    scripts, resources = expected_lists(module)
    # template order: icon, UI, requirements first
    first = [r for r in resources if r.startswith("Resources/")]
    rest = [r for r in resources if not r.startswith("Resources/")]
    (ROOT / module / "CMakeLists.txt").write_text(
        TEMPLATE.format(module=module, scripts=fmt(scripts, module), resources=fmt(first + rest, module),
                        extra_modules="".join(EXTRA_MODULE.format(name=n) for n in extra_modules(module)),
                        extra_tests="".join(f"  slicer_add_python_unittest(SCRIPT {n}.py)\n" for n in extra_modules(module)))
    )
    print(module, len(scripts), len(resources))
