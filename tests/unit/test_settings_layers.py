"""Settings resolution shared by `crucible serve` and `crucible-admin`: command line, then environment,
then the data directory's pid file, then the default."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend import cli
from backend.settings_layers import resolve
from scripts import admin
from tests.server import free_port

DEFAULT_ACTOR_PORT = 7401


@pytest.fixture(autouse=True)
def no_crucible_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("CRUCIBLE_DATA_DIR", "CRUCIBLE_ACTOR_PORT", "CRUCIBLE_CLUSTER_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    yield


def pid_file(data: Path, actor_port: int, actor_host: str = "127.0.0.1") -> Path:
    """The pid file a server writes in its data directory (actors.runtime.system.write_pid_file's fields)."""
    data.mkdir(parents=True, exist_ok=True)
    info = {"server_pid": 1, "actor_host": actor_host, "actor_port": actor_port, "actor_sid": None}
    (data / "crucible.pid").write_text(json.dumps(info))
    return data


def test_the_flag_wins_over_environment_and_pid_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pid_file(tmp_path, 9001)
    monkeypatch.setenv("CRUCIBLE_ACTOR_PORT", "9002")
    resolved = resolve({"data_dir": str(tmp_path), "actor_port": 9003})
    assert (resolved.settings.actor_port, resolved.actor_port_source) == (9003, "given")


def test_the_environment_wins_over_the_pid_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pid_file(tmp_path, 9001)
    monkeypatch.setenv("CRUCIBLE_ACTOR_PORT", "9002")
    resolved = resolve({"data_dir": str(tmp_path), "actor_port": None})
    assert (resolved.settings.actor_port, resolved.actor_port_source) == (9002, "given")


def test_the_environment_names_the_data_directory_whose_pid_file_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid_file(tmp_path / "elsewhere", 9001)
    monkeypatch.setenv("CRUCIBLE_DATA_DIR", str(tmp_path / "elsewhere"))
    resolved = resolve({"data_dir": None, "actor_port": None})
    assert resolved.settings.data_dir == tmp_path / "elsewhere"
    assert (resolved.settings.actor_port, resolved.actor_port_source) == (9001, "pid file")


def test_the_data_dir_flag_wins_over_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRUCIBLE_DATA_DIR", str(tmp_path / "env"))
    assert resolve({"data_dir": str(tmp_path / "flag")}).settings.data_dir == tmp_path / "flag"


def test_without_flag_environment_or_pid_file_the_default_applies(tmp_path: Path) -> None:
    resolved = resolve({"data_dir": str(tmp_path), "actor_port": None})
    assert (resolved.settings.actor_port, resolved.actor_port_source) == (DEFAULT_ACTOR_PORT, "default")
    assert resolved.actor_host == "127.0.0.1"


def test_the_actor_host_is_the_cluster_address_else_the_pid_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pid_file(tmp_path, 9001, actor_host="10.1.2.3")
    assert resolve({"data_dir": str(tmp_path)}).actor_host == "10.1.2.3"
    monkeypatch.setenv("CRUCIBLE_CLUSTER_ADDRESS", "10.9.9.9")
    resolved = resolve({"data_dir": str(tmp_path)})
    assert resolved.actor_host == "10.9.9.9"
    assert resolved.settings.cluster_address == "10.9.9.9"


def test_the_pid_files_address_never_becomes_the_servers_cluster_address(tmp_path: Path) -> None:
    """A server binds beyond loopback only when its command line or environment says so."""
    pid_file(tmp_path, 9001, actor_host="10.1.2.3")
    assert cli.settings_from(cli.parse(["serve", "--data-dir", str(tmp_path)])).cluster_address == ""


def test_serve_resolves_like_the_admin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pid_file(tmp_path, 9001)
    assert cli.settings_from(cli.parse(["serve", "--data-dir", str(tmp_path)])).actor_port == 9001
    monkeypatch.setenv("CRUCIBLE_ACTOR_PORT", "9002")
    assert cli.settings_from(cli.parse(["serve", "--data-dir", str(tmp_path)])).actor_port == 9002
    flagged = cli.parse(["serve", "--data-dir", str(tmp_path), "--actor-port", "9003"])
    assert cli.settings_from(flagged).actor_port == 9003


def run_admin(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exited:
        admin.main(argv)
    assert isinstance(exited.value.code, int)
    return exited.value.code, " ".join(capsys.readouterr().err.split())  # as one line, however wrapped


def test_the_admin_reads_the_data_directory_and_port_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Nothing listens on the port the environment names: the error names that port, not the pid file's."""
    recorded, wanted = free_port(), free_port()
    pid_file(tmp_path, recorded)
    monkeypatch.setenv("CRUCIBLE_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CRUCIBLE_ACTOR_PORT", str(wanted))
    code, stderr = run_admin(["status"], capsys)
    assert code == admin.EXIT_UNREACHABLE
    assert f":{wanted}" in stderr and f":{recorded}" not in stderr


def test_the_admin_falls_back_to_the_pid_files_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    recorded = free_port()
    monkeypatch.setenv("CRUCIBLE_DATA_DIR", str(pid_file(tmp_path, recorded)))
    code, stderr = run_admin(["status"], capsys)
    assert code == admin.EXIT_UNREACHABLE and f":{recorded}" in stderr


def test_the_admin_never_attaches_to_the_default_port_of_a_data_directory_no_server_ran_in(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, stderr = run_admin(["--data-dir", str(tmp_path), "status"], capsys)
    assert code == admin.EXIT_UNREACHABLE and "no pid file" in stderr


def test_an_invalid_environment_setting_is_a_usage_error_of_the_admin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CRUCIBLE_ACTOR_PORT", "not-a-port")
    code, stderr = run_admin(["--data-dir", str(tmp_path), "status"], capsys)
    assert code == admin.EXIT_USAGE and "actor_port" in stderr
