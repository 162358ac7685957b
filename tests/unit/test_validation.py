"""Input rules that guard paths and git: branch names, names, ids."""

import subprocess

import pytest

from actors.registry import derive_branch, derive_title
from backend.validation import is_task_id
from schemas.api import valid_branch

BRANCHES = [
    "main",
    "feature/login",
    "fix-1.2",
    "a/b/c",
    "-x",
    "a..b",
    "a b",
    "a~1",
    "a^",
    "a:b",
    "a?",
    "a*",
    "a[b",
    "a\\b",
    "/a",
    "a/",
    "a//b",
    ".a",
    "a/.b",
    "a.lock",
    "a/b.lock",
    "a.",
    "a@{1}",
    "ok@x",
    "ünïcode",
    "tab\tx",
    "x/y.z",
    "release/v1.0.0",
]


@pytest.mark.parametrize("name", BRANCHES)
def test_branch_rule_agrees_with_git_check_ref_format(name, tmp_path):
    check = ["git", "check-ref-format", "--branch", name]
    git_says = subprocess.run(check, capture_output=True, cwd=tmp_path).returncode == 0
    assert valid_branch(name) == (git_says and not name.startswith("-"))


@pytest.mark.parametrize("name", ["@", "HEAD"])
def test_names_git_would_resolve_to_another_ref_are_refused(name):
    assert not valid_branch(name)


def test_generated_branches_are_valid_and_unique_per_task():
    title = derive_title("  Fix the *login* bug: users can't sign in\nsecond line")
    assert title == "Fix the *login* bug: users can't sign in"
    a, b = derive_branch(title, "0" * 16 + "abcdef"), derive_branch(title, "0" * 16 + "fedcba")
    assert a != b and valid_branch(a) and valid_branch(b)
    assert derive_branch("***", "0" * 22) == "crucible/task-000000"


def test_long_titles_are_shortened():
    assert len(derive_title("x" * 500)) == 60


@pytest.mark.parametrize(
    "value", ["../../etc/passwd", "0" * 21, "0" * 23, "G" * 22, "", "%2e%2e", "0" * 22 + "\n"]
)
def test_anything_not_shaped_like_a_task_id_is_refused(value):
    assert not is_task_id(value)
