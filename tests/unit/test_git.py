"""git never prompts: a repository that asks for credentials fails at once instead of waiting on a
terminal (or an askpass program) that no actor has."""

import http.server
import threading
import time

import pytest

from actors import git as git_module
from actors.git import GitError, git


class AskForCredentials(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="private"')
        self.end_headers()

    def log_message(self, *args: object) -> None: ...


def test_a_repository_asking_for_credentials_fails_fast_without_a_prompt(monkeypatch):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), AskForCredentials)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/private.git"
    try:
        with pytest.raises(GitError, match="transport 'http' not allowed"):
            git("ls-remote", "--", url, timeout=20)  # plain-text transports are refused outright
        monkeypatch.setitem(git_module.GIT_ENV, "GIT_ALLOW_PROTOCOL", "http")  # to reach the credential ask
        began = time.monotonic()
        with pytest.raises(GitError) as failed:
            git("ls-remote", "--", url, timeout=20)
        assert time.monotonic() - began < 10
        assert "prompt" in str(failed.value).lower() or "authentication" in str(failed.value).lower()
    finally:
        server.shutdown()
        server.server_close()
