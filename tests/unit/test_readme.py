"""The README stays true to the code: its first commands, and every setting with its default."""

from pathlib import Path

import pytest

from schemas.settings import Settings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_the_readme_starts_with_the_two_commands():
    block = README.split("```")[1].strip().splitlines()
    assert [line.split()[0] for line in block[1:]] == ["scripts/serve", "scripts/test"]


@pytest.mark.parametrize("name", list(Settings.model_fields))
def test_every_setting_is_listed(name):
    assert f"`CRUCIBLE_{name.upper()}`" in README
