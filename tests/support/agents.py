"""Helpers for agent tests: creating agents and reading a talk's stored tool loop."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.support.mock_provider import FALLBACK, PRIMARY

TOOL_MODEL = f"openai/{PRIMARY}"  # the mock catalogue says it calls functions
NO_TOOLS_MODEL = f"openai/{FALLBACK}"  # ... and this one does not


def create_agent(api, session, workspace_id: str | None = None, **fields) -> dict:
    body = {"name": "Helper", "model": TOOL_MODEL, "instructions": "Be brief.", **fields}
    path = "/api/v1/agents" + (f"?workspace_id={workspace_id}" if workspace_id else "")
    response = api.request("POST", path, session, json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def workflow_tool(workflow_id: str, name: str = "greet") -> dict:
    return {"type": "workflow", "name": name, "workflow_id": workflow_id}


def http_tool(url: str, name: str = "lookup", method: str = "GET", **extra) -> dict:
    return {"type": "http", "name": name, "method": method, "url": url,
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}, **extra}


class ToolServer:
    """A local HTTP endpoint for `http` tools: answers GET/POST with `reply` (JSON), records
    each request (path with query, body), and runs `on_request` first (may block)."""

    def __init__(self, reply: dict | None = None):
        self.reply = reply or {"temperature_c": 21}
        self.requests: list[tuple[str, str, bytes]] = []
        self.on_request = lambda: None
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                server.requests.append((self.command, self.path, self.rfile.read(length)))
                server.on_request()
                body = json.dumps(server.reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/weather"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
