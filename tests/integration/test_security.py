"""Names and ids never build a path outside the data directory; user values never become options of a
command (git gets `--` before them, and refuses `ext::`); nothing runs through a shell."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server import Server, serving_sim


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from serving_sim(tmp_path_factory, "security", {})


@pytest.mark.parametrize(
    "path",
    [
        "/v1/tasks/..%2F..%2Fcrucible.lock",
        "/v1/tasks/../../crucible.lock",
        "/v1/tasks/%2e%2e%2fworkspaces",
        "/v1/workspaces/..%2F..%2Fetc/projects",
        "/v1/workspaces/default/projects/..%2Fdefault",
        "/static/..%2F..%2Fbackend%2Fapp.py",
    ],
)
def test_traversal_in_ids_and_names_finds_nothing(server, path):
    response = server.get(path)
    assert response.status in (404, 422), response.body
    assert "traceback" not in str(response.body).lower()


@pytest.mark.parametrize(
    "value",
    [
        "--upload-pack=touch {canary}",
        "-u touch {canary}",
        "ext::sh -c touch% {canary}",
        "file:///nonexistent;touch {canary}",
        "$(touch {canary})",
    ],
)
def test_a_repo_value_never_becomes_an_option_or_a_command(server, tmp_path, value):
    canary = tmp_path / "pwned"
    body = {"name": "evil", "repo": value.format(canary=canary)}
    response = server.post("/v1/workspaces/default/projects", body)
    assert response.status == 422, response.body
    assert not canary.exists()


@pytest.mark.parametrize("branch", ["-b", "--orphan", "--upload-pack=x", "../x", "a..b", "HEAD", "@{-1}"])
def test_a_branch_that_git_would_read_as_an_option_or_another_ref_is_refused(server, branch):
    response = server.create({"prompt": "x", "branch": branch})
    assert response.status == 422, (branch, response.body)


def test_names_that_are_paths_are_refused(server, tmp_path: Path):
    for name in ("..", ".", "a/b", "-x", ".hidden", "A"):
        response = server.post("/v1/workspaces", {"name": name})
        assert response.status == 422, (name, response.body)
    assert not (server.data / "workspaces" / "..").resolve().joinpath("workspace.sqlite").exists()
