"""The house rules of the package layout, checked on the source itself.

* every module declares ``__all__`` and every name in it exists;
* no module imports a private name (``_name``, not a dunder) from another subpackage, neither with
  ``from ... import _name`` nor as ``module._name`` on an imported module;
* every subpackage ``__init__`` re-exports the ``__all__`` of each of its modules (the same objects);
* the top level keeps at most ~45 public names besides its subpackages;
* every name in the top level's ``_MOVED`` is reachable from its new home, and reaching it through the
  top level warns with a ``FutureWarning`` that names the new home.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import warnings
from pathlib import Path

import pytest

import skillneuron_lens

PACKAGE_DIR = Path(skillneuron_lens.__file__).parent
TOP_LEVEL_LIMIT = 45



def _module_names() -> list[str]:
    """Every module of the package, subpackages' ``__init__`` included, by dotted name.

    ``skillneuron_lens.__main__`` is left out: it is the ``python -m`` entry point (importing it runs the
    command line), not a module with names to export.
    """
    names = ["skillneuron_lens"]
    for info in pkgutil.walk_packages([str(PACKAGE_DIR)], prefix="skillneuron_lens."):
        if info.name != "skillneuron_lens.__main__":
            names.append(info.name)
    return sorted(names)


MODULES = _module_names()
SUBPACKAGES = [
    name
    for name in MODULES
    if name != "skillneuron_lens" and (PACKAGE_DIR.joinpath(*name.split(".")[1:]) / "__init__.py").is_file()
]


def _source_path(module: str) -> Path:
    relative = Path(*module.split(".")[1:])
    package_init = PACKAGE_DIR / relative / "__init__.py"
    return package_init if package_init.is_file() else (PACKAGE_DIR / relative).with_suffix(".py")


def _room(module: str) -> str:
    """The subpackage (or top-level module) a module belongs to: ``skillneuron_lens.<room>``."""
    parts = module.split(".")
    return ".".join(parts[:2])


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_imports(module: str, source: str) -> list[str]:
    """Private names that ``module`` takes from a module of another subpackage.

    Args:
        module: Dotted name of the importing module.
        source: Its source text.

    Returns:
        One ``"<line>: <imported module>.<name>"`` per private name taken across subpackages.
    """
    tree = ast.parse(source)
    found: list[str] = []
    aliases: dict[str, str] = {}  # local name -> imported skillneuron_lens module
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if not node.module.startswith("skillneuron_lens"):
                continue
            for alias in node.names:
                target = f"{node.module}.{alias.name}"
                if _is_private(alias.name) and _room(node.module) != _room(module):
                    found.append(f"{node.lineno}: {target}")
                aliases[alias.asname or alias.name] = target
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("skillneuron_lens") and alias.asname:
                    aliases[alias.asname] = alias.name
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and _is_private(node.attr)
            and _room(aliases[node.value.id]) != _room(module)
        ):
            found.append(f"{node.lineno}: {aliases[node.value.id]}.{node.attr}")
    return found


@pytest.mark.parametrize("module", MODULES)
def test_every_module_declares_all_and_each_name_exists(module: str) -> None:
    imported = importlib.import_module(module)
    assert hasattr(imported, "__all__"), f"{module} declares no __all__"
    exported = list(imported.__all__)
    assert len(exported) == len(set(exported)), f"{module}.__all__ repeats a name"
    missing = [name for name in exported if not hasattr(imported, name)]
    assert not missing, f"{module}.__all__ names what the module lacks: {missing}"


@pytest.mark.parametrize("module", MODULES)
def test_no_private_name_crosses_subpackages(module: str) -> None:
    crossings = private_imports(module, _source_path(module).read_text(encoding="utf-8"))
    assert not crossings, f"{module} imports private names from other subpackages: {crossings}"


def test_private_import_check_catches_both_forms() -> None:
    """The checker above finds ``from x import _y`` and ``x._y`` across rooms, and nothing else."""
    source = (
        "from skillneuron_lens.record.accumulators import _check_finite, MeanAccumulator\n"
        "from skillneuron_lens.plot.layout import _helper\n"
        "from skillneuron_lens import __version__\n"
        "import skillneuron_lens.models.offline as offline\n"
        "offline._package_dir('x')\n"
        "offline.cache_dir()\n"
    )
    assert private_imports("skillneuron_lens.plot.figures", source) == [
        "1: skillneuron_lens.record.accumulators._check_finite",
        "5: skillneuron_lens.models.offline._package_dir",
    ]


@pytest.mark.parametrize("package", SUBPACKAGES)
def test_subpackage_reexports_its_modules(package: str) -> None:
    imported = importlib.import_module(package)
    folder = PACKAGE_DIR / Path(*package.split(".")[1:])
    for info in pkgutil.iter_modules([str(folder)]):
        if info.ispkg:
            continue
        module = importlib.import_module(f"{package}.{info.name}")
        for name in module.__all__:
            assert name in imported.__all__, f"{package}.__all__ lacks {info.name}.{name}"
            assert getattr(imported, name) is getattr(module, name), f"{package}.{name} is another object"


def test_top_level_stays_small() -> None:
    public = [
        name
        for name in skillneuron_lens.__all__
        if not name.startswith("__") and f"skillneuron_lens.{name}" not in MODULES
    ]
    assert len(public) <= TOP_LEVEL_LIMIT, f"{len(public)} top-level names: {sorted(public)}"


@pytest.mark.parametrize("name", sorted(skillneuron_lens._MOVED))
def test_moved_name_resolves_from_its_home_and_warns_at_the_top(name: str) -> None:
    home = skillneuron_lens._MOVED[name]
    target = getattr(importlib.import_module(home), name)
    assert name not in skillneuron_lens.__all__
    with pytest.warns(FutureWarning, match=rf"skillneuron_lens\.{name} moved to {home}\.{name}"):
        forwarded = getattr(skillneuron_lens, name)
    assert forwarded is target


def test_an_unknown_top_level_name_is_an_attribute_error() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(AttributeError, match="no attribute 'not_a_name'"):
            skillneuron_lens.not_a_name  # noqa: B018
