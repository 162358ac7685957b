"""Settings: command line > CRUCIBLE_* environment > these defaults (one model, handed to actors)."""

import os
import re
from pathlib import Path

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.status import ProviderKind

# What CRUCIBLE_ALLOWED_HOSTS and CRUCIBLE_ALLOWED_ORIGINS entries look like (IPv6 in brackets).
_HOST = re.compile(r"(\[[0-9a-f:.]+\]|[a-z0-9_.-]+)(:[0-9]{1,5})?")
_ORIGIN = re.compile(r"https?://" + _HOST.pattern)
_SHAPES = {"allowed_hosts": (_HOST, "host[:port]"), "allowed_origins": (_ORIGIN, "scheme://host[:port]")}


def _entries(value: str) -> tuple[str, ...]:
    return tuple(e for e in (part.strip().lower() for part in value.split(",")) if e)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CRUCIBLE_", frozen=True)

    host: str = Field("127.0.0.1", description="HTTP listen address")
    port: int = Field(7400, ge=0, le=65535, description="HTTP port")
    data_dir: Path = Field(
        Path("./data"), validate_default=True, description="databases, mirrors, sandboxes, logs"
    )
    actor_port: int = Field(
        7401, ge=1, le=65535, description="thespian Admin port (on loopback, or the cluster address)"
    )
    cluster_address: str = Field(
        "", description="multi-host: the private IPv4 address actor sockets bind to (default: loopback only)"
    )
    allow_public: bool = Field(
        False, description="let cluster_address be a public address (thespian sends unauthenticated pickles)"
    )
    provider: ProviderKind = Field(ProviderKind.local, description="default provider of new tasks")

    step_deadline_s: float = Field(180.0, gt=0, description="a provisioning step past this ends in error")
    max_attempts: int = Field(5, ge=1, description="attempts per step before error")
    backoff_base_s: float = Field(0.5, gt=0, description="first retry delay; doubles per attempt")
    backoff_max_s: float = Field(30.0, gt=0, description="longest retry delay")
    drain_deadline_s: float = Field(
        30.0, gt=0, description="how long a drain waits for steps in flight to reach a boundary"
    )
    idle_timeout_s: float = Field(
        30.0,
        gt=0,
        description="a task actor at rest, a project with none live, or a workspace with no project live,"
        " this long goes from memory",
    )
    max_live_tasks: int = Field(
        1000,
        ge=1,
        description="live task actors made by the projects of one runner (each holds its database open);"
        " provisioning beyond it waits, in creation order",
    )
    max_live_agents: int = Field(
        32, ge=1, description="local provider: live agents per workspace; beyond, init_ensure_agent waits"
    )
    runners: int = Field(
        default_factory=lambda: os.cpu_count() or 1,
        ge=1,
        le=64,
        description="runner processes hosting the actors on this host (default: one per core)",
    )
    max_workspaces: int = Field(
        32, ge=1, description="workspaces this server holds; past it POST /v1/workspaces answers 409"
    )
    bridge_threads: int = Field(16, ge=1, description="threads that carry HTTP requests to the actors")
    ws_queue_frames: int = Field(1000, ge=1, description="frames a websocket may fall behind before 1013")
    ask_timeout_s: float = Field(
        10.0, gt=0, description="a request the actors leave unanswered this long gets 503"
    )

    sim_step_ms: int = Field(50, ge=0, description="sim provider: latency per step")
    sim_fail: float = Field(0.0, ge=0, le=1, description="sim provider: transient failure probability")

    sandbox_agent_bin: str = Field(
        "sandbox-agent", description="default: the binary scripts/setup.sh installs"
    )
    agent_start_timeout_s: float = Field(30.0, gt=0, description="an agent not healthy by then is retried")
    agent_http_timeout_s: float = Field(10.0, gt=0, description="every HTTP call to an agent")
    git_timeout_s: float = Field(120.0, gt=0, description="every git command (clone, fetch)")
    sqlite_synchronous: str = Field(
        "NORMAL",
        pattern="^(NORMAL|FULL)$",
        description="NORMAL: durable across kill -9; FULL: power loss too",
    )

    token: SecretStr | None = Field(
        None,
        min_length=1,
        description="when set, every route but /v1/health and /v1/openapi.json needs Authorization: Bearer",
    )
    # Comma-separated strings, not lists: pydantic-settings would read a list from the environment as JSON.
    allowed_hosts: str = Field(
        "",
        description="names (comma-separated) the API may also be reached by, beyond loopback and --host;"
        " any other Host header gets 421 (docs/security.md)",
    )
    allowed_origins: str = Field(
        "",
        description="origins (comma-separated scheme://host[:port]) whose pages may also use the API;"
        " a request with any other Origin but the server's own gets 403 (docs/security.md)",
    )

    log_format: str = Field(
        "auto", pattern="^(auto|json|console)$", description="console on a tty, else JSON"
    )
    crash_at: str = Field(
        "", description="fault injection (tests): a task actor stops for good at <step>:<point>"
    )
    log_level: str = Field("info", description="debug, info, warning, error")
    log_max_mb: int = Field(100, ge=1, description="the actors' log file past this size is rolled over")
    log_keep: int = Field(3, ge=1, description="rolled-over actor log files kept (actors.log.1 the newest)")

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, data_dir: Path) -> Path:
        """Resolved once: every actor reads it per step, and each resolve() costs an lstat per part."""
        return data_dir.resolve()

    @field_validator("allowed_hosts", "allowed_origins")
    @classmethod
    def _listed(cls, value: str, info: ValidationInfo) -> str:
        """A malformed entry would silently admit nothing: refuse it at start-up instead."""
        shape, form = _SHAPES[info.field_name or ""]
        for entry in _entries(value):
            if not shape.fullmatch(entry):
                raise ValueError(f"{entry!r} is not {form}")
        return value

    @property
    def allowed_host_list(self) -> tuple[str, ...]:
        return _entries(self.allowed_hosts)

    @property
    def allowed_origin_list(self) -> tuple[str, ...]:
        return _entries(self.allowed_origins)

    @property
    def hub_socket(self) -> Path:
        """Where the web process's event hub listens for the actors' pushes."""
        return self.data_dir / "hub.sock"
