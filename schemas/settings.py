"""Settings: command line > CRUCIBLE_* environment > these defaults (one model, handed to actors)."""

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.status import ProviderKind


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CRUCIBLE_", frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(7400, ge=0, le=65535)
    data_dir: Path = Path("./data")
    actor_port: int = Field(7401, ge=1, le=65535)
    provider: ProviderKind = ProviderKind.local

    step_deadline_s: float = Field(180.0, gt=0, description="a provisioning step past this ends in error")
    max_attempts: int = Field(5, ge=1, description="attempts per step before error")
    backoff_base_s: float = Field(0.5, gt=0, description="first retry delay; doubles per attempt")
    backoff_max_s: float = Field(30.0, gt=0)
    drain_deadline_s: float = Field(30.0, gt=0)
    idle_timeout_s: float = Field(30.0, gt=0, description="reserved: passivation of idle task actors")
    max_live_tasks: int = Field(64, ge=1, description="reserved: cap on live task actors")
    max_live_agents: int = Field(16, ge=1, description="reserved: cap on live local agents")
    pool_size: int = Field(2, ge=0, description="ready task-actor processes kept per project")
    bridge_threads: int = Field(16, ge=1, description="threads that carry HTTP requests to the actors")
    ask_timeout_s: float = Field(10.0, gt=0)
    token: str | None = Field(None, description="reserved: bearer token for REST and websockets")

    sim_step_ms: int = Field(50, ge=0, description="sim provider: latency per step")
    sim_fail: float = Field(0.0, ge=0, le=1, description="sim provider: transient failure probability")

    sandbox_agent_bin: str = "sandbox-agent"
    agent_start_timeout_s: float = Field(30.0, gt=0)
    agent_http_timeout_s: float = Field(10.0, gt=0)
    git_timeout_s: float = Field(120.0, gt=0)
    sqlite_synchronous: str = Field("NORMAL", pattern="^(NORMAL|FULL)$")

    log_format: str = Field("auto", pattern="^(auto|json|console)$")
    log_level: str = "info"

    @property
    def data(self) -> Path:
        return self.data_dir.resolve()
