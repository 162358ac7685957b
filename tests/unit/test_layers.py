"""Layers point one way (docs/design.md, "Layout"): schemas import nothing of ours, actors never import the
web process, providers use only schemas and small shared utilities, and the web process names no
provider. Checked on the source's import statements, so a violation fails here before it tangles."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# What a provider may import of ours besides other providers: schemas and these small utilities.
PROVIDER_UTILITIES = {"actors.proc", "actors.git"}


def imports(path: Path) -> set[str]:
    """Every module of ours the file imports (`from actors import git` counts as actors.git)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name.split(".")[0] in ("actors", "backend", "schemas", "scripts")}


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def ours(paths: list[Path], under: str) -> list[str]:
    return [name for path in paths for name in imports(path) if name.startswith(under)]


@pytest.mark.parametrize("path", modules("schemas"), ids=lambda p: p.name)
def test_schemas_import_only_schemas(path: Path) -> None:
    assert all(name.startswith("schemas") for name in imports(path))


@pytest.mark.parametrize("path", modules("actors"), ids=lambda p: str(p.relative_to(ROOT)))
def test_actors_never_import_the_web_process(path: Path) -> None:
    assert not ours([path], "backend")


@pytest.mark.parametrize("path", modules("actors/providers"), ids=lambda p: p.name)
def test_providers_use_schemas_and_small_utilities_only(path: Path) -> None:
    allowed = ("schemas", "actors.providers", *PROVIDER_UTILITIES)
    assert [name for name in imports(path) if not name.startswith(allowed) and name != "actors"] == []


@pytest.mark.parametrize("path", modules("backend"), ids=lambda p: p.name)
def test_the_web_process_names_no_provider(path: Path) -> None:
    assert not ours([path], "actors.providers")


def test_metrics_do_not_import_the_runtime_that_owns_them() -> None:
    assert not ours([ROOT / "backend" / "metrics.py"], "backend.runtime")
