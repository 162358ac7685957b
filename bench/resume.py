"""Resume after kill -9: how long until a restarted server is healthy, and until every task it was
provisioning is `running` again.

    PYTHONPATH=. .venv/bin/python bench/resume.py

Per provider (local, sim with 50 ms steps), three rounds: 5 creates, kill -9 of the server's process group
and every actor process 50 ms later, restart on the same data directory.
"""

import pathlib
import tempfile
import time

from tests.server import Server, make_repo

PROVIDERS = (("local", {}), ("sim", {"CRUCIBLE_SIM_STEP_MS": "50"}))


def round_trip(provider: str, env: dict[str, str]) -> tuple[float, float]:
    base = pathlib.Path(tempfile.mkdtemp(prefix="crucible-resume-"))
    server = Server(base / "data", provider, env)
    try:
        server.start()
        server.register(make_repo(base / "repo"))
        ids = [server.create({"prompt": f"task {i}"}).body["id"] for i in range(5)]
        time.sleep(0.05)
        server.kill9()
        server = Server(base / "data", provider, env)
        began = time.monotonic()
        server.start()
        ready = time.monotonic() - began
        for task_id in ids:
            server.wait_status(task_id, {"running"}, timeout=120)
        return ready, time.monotonic() - began
    finally:
        server.cleanup()


def main() -> None:
    print("| provider | healthy after s | all 5 running after s |\n|---|---|---|")
    for provider, env in PROVIDERS:
        for _ in range(3):
            ready, running = round_trip(provider, env)
            print(f"| {provider} | {ready:.2f} | {running:.2f} |")


if __name__ == "__main__":
    main()
