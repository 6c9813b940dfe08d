"""The import graph stays honest: the domain loads no framework, the pure Slack builders load no
web stack, and the demo package is reached only through ``aispend demo``.

Imports are checked in a fresh interpreter (``sys.modules`` after the import), because the test
process itself has long since loaded everything.
"""

from __future__ import annotations

import ast
import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest

import aispend
from aispend.demo.simulated import servers

SRC = Path(aispend.__file__).parent
FRAMEWORKS = ("pydantic", "yaml", "sqlalchemy", "sqlmodel", "httpx", "slack_bolt", "slack_sdk", "starlette")
WEB_STACK = ("slack_bolt", "starlette", "uvicorn")


def _loaded_after(*modules: str) -> set[str]:
    """Top-level packages in ``sys.modules`` after importing ``modules`` in a new interpreter."""
    code = (
        "import importlib, json, sys\n"
        f"for name in {list(modules)!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} | set(sys.modules))))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return set(json.loads(out))


def _modules(package: str) -> list[str]:
    folder = SRC / package
    return [f"aispend.{package}.{p.stem}" for p in sorted(folder.glob("*.py")) if p.stem != "__init__"]


def test_the_spend_domain_loads_no_framework() -> None:
    loaded = _loaded_after("aispend.spend", *_modules("spend"))
    assert not loaded & set(FRAMEWORKS), sorted(loaded & set(FRAMEWORKS))
    assert "aispend.config" not in loaded


def test_the_pure_block_kit_builders_load_no_web_stack() -> None:
    loaded = _loaded_after("aispend.slack.blocks", "aispend.slack.messages", "aispend.slack.mrkdwn")
    assert not loaded & set(WEB_STACK), sorted(loaded & set(WEB_STACK))


@pytest.mark.parametrize(
    "package", ["spend", "alerts", "slack", "providers", "store", "demo", "demo/simulated"]
)
def test_package_init_files_import_nothing(package: str) -> None:
    tree = ast.parse((SRC / package / "__init__.py").read_text(encoding="utf-8"))
    imports = [node for node in ast.walk(tree) if isinstance(node, ast.Import | ast.ImportFrom)]
    assert imports == []


def _demo_imports(path: Path) -> list[str]:
    """``module.function`` (or ``module``) of every import of ``aispend.demo`` in one file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    module = ".".join(path.relative_to(SRC.parent).with_suffix("").parts)
    found: list[str] = []

    def visit(node: ast.AST, where: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = where
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                inner = f"{module}.{child.name}"
            names: list[str] = []
            if isinstance(child, ast.ImportFrom) and child.module:
                names = [child.module] + [f"{child.module}.{a.name}" for a in child.names]
            elif isinstance(child, ast.Import):
                names = [a.name for a in child.names]
            if any(n == "aispend.demo" or n.startswith("aispend.demo.") for n in names):
                found.append(inner)
            visit(child, inner)

    visit(tree, module)
    return found


def test_nothing_outside_the_demo_package_imports_it() -> None:
    importers = [
        where
        for path in sorted(SRC.rglob("*.py"))
        if not path.relative_to(SRC).parts[0] == "demo"
        for where in _demo_imports(path)
    ]
    # The one way in: the `aispend demo` command, which imports it only when run.
    assert importers == ["aispend.cli.cmd_demo"]
    loaded = _loaded_after("aispend.cli", "aispend.serve")
    assert "aispend.demo" not in loaded


def test_options_only_tests_use_are_not_public_names_of_the_simulated_servers() -> None:
    public = {name for name in vars(servers) if not name.startswith("_")}
    assert not {"OPENAI_PROJECT_KEY", "OPENROUTER_INFERENCE_KEY"} & public
    options = set(inspect.signature(servers.FakeOpenAI).parameters) | set(
        inspect.signature(servers.FakeOpenRouter).parameters
    )
    assert options == {"dataset"}


def test_code_cites_only_documents_in_this_repository() -> None:
    """Users never see the design notes the project started from: code, docstrings and messages
    point at the README (the user contract) instead."""
    design_notes = "DESIGN" + ".md"  # spelled apart so this file does not cite it either
    root = SRC.parents[1]
    citing = [
        str(path.relative_to(root))
        for folder in ("src", "tests", "bench")
        for path in sorted((root / folder).rglob("*.py"))
        if design_notes in path.read_text(encoding="utf-8")
    ]
    assert citing == []
