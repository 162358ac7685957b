"""The sim provider's side effects: each made once per task, whatever is repeated."""

import asyncio
import json

from actors.providers.base import TaskContext
from actors.providers.sim import SimProvider, effects_log
from schemas.settings import Settings


def context(tmp_path) -> TaskContext:
    settings = Settings(data_dir=tmp_path)
    return TaskContext("t" * 22, "ws", "p", "b", "fix it", "mock", tmp_path, tmp_path / "m", settings)


def recorded(tmp_path) -> list[str]:
    return [json.loads(line)["effect"] for line in effects_log(tmp_path).read_text().splitlines()]


def test_a_repeated_call_adopts_its_effect_instead_of_making_another(tmp_path):
    sim, ctx = SimProvider(step_ms=0, fail=0), context(tmp_path)

    async def provision_twice() -> None:
        for _ in range(2):
            await sim.create_sandbox(ctx)
            await sim.ensure_agent(ctx)
            await sim.open_session(ctx)
            await sim.send_prompt(ctx, ctx.task_id)

    asyncio.run(provision_twice())
    assert recorded(tmp_path) == ["sandbox", "agent", "session", "prompt"]
    assert (ctx.sandbox_path / ".sim-sandbox").stat().st_nlink == 4  # one inode for the four markers


def test_after_the_sandbox_is_destroyed_its_effects_are_made_again(tmp_path):
    sim, ctx = SimProvider(step_ms=0, fail=0), context(tmp_path)

    async def provision_destroy_provision() -> None:
        await sim.create_sandbox(ctx)
        await sim.destroy(ctx)
        assert sim.health(ctx)["status"] == "down"
        await sim.create_sandbox(ctx)
        await sim.ensure_agent(ctx)

    asyncio.run(provision_destroy_provision())
    assert recorded(tmp_path) == ["sandbox", "sandbox", "agent"]
    assert sim.health(ctx)["status"] == "healthy"
