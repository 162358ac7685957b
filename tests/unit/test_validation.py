"""Input rules that guard paths and git: branch names, names, ids."""

import subprocess

import pytest

from actors.project.registry import derive_branch, derive_title
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


def test_two_tasks_of_one_title_whose_ids_end_alike_get_distinct_branches(tmp_path, monkeypatch):
    """A derived branch takes the id's last 6 characters, and more where they clash (they did in a
    benchmark: 409 branch_taken for a branch the client never asked for). A branch the client names is
    refused while held, and the refusal names its holder."""
    from actors.project import registry
    from schemas.api import TaskCreate
    from schemas.workspace_messages import CreateTask

    ids = iter(["0" * 10 + "111111abcdef", "0" * 10 + "222222abcdef", "0" * 10 + "333333abcdef"])
    monkeypatch.setattr(registry, "new_task_id", lambda: next(ids))
    tasks = registry.TaskRegistry(tmp_path / "p.sqlite", "NORMAL")
    create = CreateTask(request_id="r", project="p", body=TaskCreate(prompt="Fix it"))
    first, second = tasks.reserve(create, "leader"), tasks.reserve(create, "leader")
    assert isinstance(first, registry.Reserved) and isinstance(second, registry.Reserved)
    assert (first.branch, second.branch) == ("crucible/fix-it-abcdef", "crucible/fix-it-2222abcdef")
    given = CreateTask(request_id="g", project="p", body=TaskCreate(prompt="x", branch=first.branch))
    refused = tasks.reserve(given, "leader")  # a branch the client names is never lengthened: refused
    assert isinstance(refused, registry.Refusal) and refused.details == {"task_id": first.task_id}
    tasks.conn.close()


def test_long_titles_are_shortened():
    assert len(derive_title("x" * 500)) == 60


@pytest.mark.parametrize(
    "value", ["../../etc/passwd", "0" * 21, "0" * 23, "G" * 22, "", "%2e%2e", "0" * 22 + "\n"]
)
def test_anything_not_shaped_like_a_task_id_is_refused(value):
    assert not is_task_id(value)
