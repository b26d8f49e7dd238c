"""Imports go one way (STYLE.md, Our layout): smsc <- aggregator <- scenarios <- cli, reports
beside scenarios reading through aggregator/store.py.

Every import statement counts, at module top or inside a function (an import hidden in a
function is still a dependency, and hid a package cycle once: issue 11), and under
`if TYPE_CHECKING:` too.

`reports` and `scenarios`: the renderers take a `reports.model.ScenarioReport`, which the
scenario runner builds as it replays, so `scenarios` may import `reports.model` and nothing
else of `reports`; `reports` never imports `scenarios` (or `cli`). Rendering and writing
reports is the command line's business (cli/replay.py).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# What each package may import from the others: a package, or one module of it.
MAY_IMPORT: dict[str, tuple[str, ...]] = {
    "smsc": (),
    "aggregator": ("smsc",),
    "reports": ("smsc", "aggregator"),
    "scenarios": ("smsc", "aggregator", "reports.model"),
    "cli": ("smsc", "aggregator", "reports", "scenarios"),
}


def _imported(tree: ast.AST, package: str) -> list[tuple[int, str]]:
    """(line, dotted name) of everything a module of `package` (dotted: the module's own
    package) imports, at any depth; `from a import b` gives "a.b" (b may be a module)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            parts = [node.module] if node.module else []
            if node.level:                            # relative: from the module's package up
                here = package.split(".")
                parts = here[: len(here) - node.level + 1] + parts
            found.extend((node.lineno, ".".join([*parts, alias.name])) for alias in node.names)
    return found


def _allowed(name: str, entries: tuple[str, ...]) -> bool:
    return any(name == e or name.startswith(e + ".") for e in entries)


def wrong_way(package: str, source: str) -> list[str]:
    """The imports of a module of `package` (dotted, e.g. "aggregator.config") that go the
    wrong way, as "line: name"."""
    top_package = package.split(".")[0]
    problems = []
    for line, name in _imported(ast.parse(source), package):
        top = name.split(".")[0]
        if top in MAY_IMPORT and top != top_package and not _allowed(name, MAY_IMPORT[top_package]):
            problems.append(f"{line}: {name}")
    return problems


def _packages() -> list[str]:
    return sorted(p.name for p in ROOT.iterdir() if (p / "__init__.py").is_file() and p.name != "tests")


def test_every_package_has_a_place_in_the_order() -> None:
    assert _packages() == sorted(MAY_IMPORT)


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_imports_go_one_way(package: str) -> None:
    problems = []
    for path in sorted((ROOT / package).rglob("*.py")):
        own_package = ".".join(path.parent.relative_to(ROOT).parts)
        problems += [f"{path.relative_to(ROOT)}:{p}" for p in wrong_way(own_package, path.read_text("utf-8"))]
    assert problems == [], f"{package} may import only {MAY_IMPORT[package]} of the other packages"


def test_an_import_inside_a_function_counts() -> None:
    source = ("from smsc.pdu.codec import Pdu\n"
              "def run():\n"
              "    from scenarios.loader import load_scenario\n"
              "    import reports.html\n"
              "    from ... import cli\n"
              "    from . import network\n")
    assert wrong_way("aggregator.config", source) == [
        "3: scenarios.loader.load_scenario", "4: reports.html", "5: cli"]


def test_only_the_report_model_is_below_scenarios() -> None:
    assert wrong_way("scenarios", "from reports.model import ScenarioReport\n") == []
    assert wrong_way("scenarios", "from reports import model\n") == []
    assert wrong_way("scenarios", "from reports.html import render_html\n") == [
        "1: reports.html.render_html"]
    assert wrong_way("reports", "from scenarios.model import Scenario\n") == [
        "1: scenarios.model.Scenario"]
