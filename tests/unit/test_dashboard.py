"""The dashboard's files and routes, and the page kept true to the schemas' enums (the browser test is
tests/integration/test_dashboard.py)."""

import re

from aiohttp import web

from backend.dashboard import FILES, STATIC, dashboard_routes
from schemas.status import AgentKind, ProviderKind, TaskStatus

INDEX = (STATIC / "index.html").read_text()


def select_options(name: str) -> list[str]:
    select = re.search(rf'<select name="{name}">(.*?)</select>', INDEX, re.S)
    assert select, name
    return re.findall(r"<option(?: value=\"[^\"]*\")?>([^<]*)</option>", select.group(1))


async def test_the_page_and_its_files_are_served_with_a_strict_policy(aiohttp_client):
    app = web.Application()
    app.add_routes(dashboard_routes)
    client = await aiohttp_client(app)
    resp = await client.get("/")
    assert resp.status == 200
    assert resp.content_type == "text/html"
    assert "default-src 'self'" in resp.headers["Content-Security-Policy"]
    for name in re.findall(r'(?:src|href)="/static/([^"]+)"', await resp.text()):
        assert name in FILES
        file = await client.get(f"/static/{name}")
        assert file.status == 200, name
        assert file.headers["Cache-Control"] == "no-cache"
    for missing in ("/static/nope.js", "/static/..%2Fdashboard.py", "/static/../dashboard.py"):
        assert (await client.get(missing)).status == 404, missing


def test_the_form_offers_exactly_the_agents_and_providers_of_the_schema():
    assert select_options("agent") == [a.value for a in AgentKind]
    assert select_options("provider") == ["server default", *(p.value for p in ProviderKind)]


def test_every_status_has_a_colour():
    """Statuses are coloured by family: init_*, archive_*, kill_* share their family's colour."""
    css = (STATIC / "style.css").read_text()
    families = {"init_": "provisioning", "archive_": "archiving", "kill_": "killing"}
    for status in TaskStatus:
        prefix = next((p for p in families if status.value.startswith(p)), None)
        family = families[prefix] if prefix else status.value
        assert f".s-{family}" in css, status
