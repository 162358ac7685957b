"""The README starts with its two commands, and docs/design.md lists every setting with its default."""

import re
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
from pydantic_core import PydanticUndefined

from schemas.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
CONTRACT = (ROOT / "docs" / "design.md").read_text()


def test_the_readme_starts_with_the_two_commands():
    block = README.split("```")[1].strip().splitlines()
    assert [line.split()[0] for line in block[1:]] == ["scripts/serve", "scripts/test"]


def section(text: str, heading: str) -> str:
    """The body of a `## heading` section, up to the next heading of that level."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert match, f"no '## {heading}' section"
    return match.group(1)


def setting_rows() -> dict[str, list[str]]:
    """The settings table of docs/design.md: `CRUCIBLE_NAME` → its cells (escaped pipes kept whole)."""
    rows = {}
    for line in section(CONTRACT, "Settings").splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if cells and re.fullmatch(r"`CRUCIBLE_[A-Z0-9_]+`", cells[0]):
            rows[cells[0].strip("`")] = cells[1:]
    return rows


def documented(default: Any) -> str | None:
    """A default as the table writes it; None for one written in words (empty, none, a secret)."""
    if default is None or default == "" or default is PydanticUndefined:  # or computed: one per core
        return None
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, Enum):
        return str(default.value)
    if isinstance(default, float) and default.is_integer():
        return str(int(default))
    if isinstance(default, Path) and not default.is_absolute():
        return f"./{default}"
    return str(default)


@pytest.mark.parametrize("name", list(Settings.model_fields))
def test_every_setting_is_in_the_design_with_its_default(name):
    rows = setting_rows()
    key = f"CRUCIBLE_{name.upper()}"
    assert key in rows, f"{key} is missing from docs/design.md's Settings table"
    default = documented(Settings.model_fields[name].default)
    if default is not None:
        assert f"`{default}`" in rows[key][0], f"{key}: the table's default is not `{default}`"


def test_the_readme_names_only_real_settings_or_documented_ones():
    """A setting the README shows is in the design's table (which the test above keeps true)."""
    shown = set(re.findall(r"`(CRUCIBLE_[A-Z0-9_]+)`", README))
    assert shown, "the README shows no setting"
    assert shown <= set(setting_rows())
