"""Races on a real server: a read must answer the same whatever other requests are doing at that moment."""

import asyncio
from collections import Counter

import aiohttp
import pytest

from tests.server import Server

pytestmark = pytest.mark.integration
CREATES = 30
SCRAPERS = 3


async def creates_while_scraping(port: int) -> tuple[Counter[int], Counter[int]]:
    """CREATES concurrent `POST /v1/workspaces`, with SCRAPERS clients scraping /metrics back to back
    until the last create has answered: (create statuses, scrape statuses)."""
    url = f"http://127.0.0.1:{port}"
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(timeout=timeout) as http:

        async def create(i: int) -> int:
            async with http.post(f"{url}/v1/workspaces", json={"name": f"race-{i}"}) as resp:
                return resp.status

        async def scrape_until(done: asyncio.Event) -> list[int]:
            statuses = []
            while not done.is_set():
                async with http.get(f"{url}/metrics") as resp:
                    await resp.read()
                    statuses.append(resp.status)
            return statuses

        done = asyncio.Event()
        scrapers = [asyncio.create_task(scrape_until(done)) for _ in range(SCRAPERS)]
        created = await asyncio.gather(*(create(i) for i in range(CREATES)))
        done.set()
        scraped = [status for statuses in await asyncio.gather(*scrapers) for status in statuses]
    return Counter(created), Counter(scraped)


def test_metrics_answer_200_while_workspaces_are_being_created(make_server):
    """A scrape asks every workspace started so far; a workspace started while it awaited one of them
    used to end it with `dictionary changed size during iteration` (a 500)."""
    server: Server = make_server("sim").start()
    created, scraped = asyncio.run(creates_while_scraping(server.port))
    assert created == Counter({201: CREATES})
    assert set(scraped) == {200}, scraped  # each scraper scraped at least once before the last create
    assert "dictionary changed size" not in server.log.read_text()
