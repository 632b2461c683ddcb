"""A local HTTP sink that stands in for the outside world (tests and the local demo).

It answers like the services a workflow calls, and remembers every request:
- `/slack/api/<method>`: a Slack Web API stand-in (`{"ok": true}`), so the slack
  connector can be pointed at `http://127.0.0.1:PORT/slack`;
- `/ai/chat/completions`: an OpenAI-compatible stand-in that echoes the prompt;
- `/status/<code>`: answers that HTTP status (e.g. `/status/500` for a failing action);
- anything else: 200 with `{"ok": true, "path": ...}`.

`python -m flowplane_devtools.sink --port 8099` prints each request as it arrives.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class Sink:
    def __init__(self, port: int = 0, echo: bool = False) -> None:
        self.received: list[Received] = []
        self._lock = threading.Lock()
        self.echo = echo
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body: Any = json.loads(raw) if raw else None
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                item = Received(self.command, self.path,
                                {k.lower(): v for k, v in self.headers.items()}, body)
                with sink._lock:
                    sink.received.append(item)
                if sink.echo:
                    print(f"{self.command} {self.path} {json.dumps(body)}", flush=True)
                status, answer = sink.answer(item)
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.port = int(self.server.server_address[1])
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def answer(self, item: Received) -> tuple[int, Any]:
        path = item.path.split("?", 1)[0]
        if path.startswith("/status/") and path[8:].isdigit():
            return int(path[8:]), {"ok": False, "status": int(path[8:])}
        if path.startswith("/slack/api/"):
            return 200, {"ok": True, "channel": (item.body or {}).get("channel"), "ts": "1.0"}
        if path == "/ai/chat/completions":
            messages = (item.body or {}).get("messages") or [{}]
            prompt = messages[-1].get("content", "")
            return 200, {"choices": [{"message": {"role": "assistant",
                                                  "content": f"echo: {prompt}"}}]}
        return 200, {"ok": True, "path": path}

    def requests(self, path_prefix: str = "") -> list[Received]:
        with self._lock:
            return [r for r in self.received if r.path.startswith(path_prefix)]

    def start(self) -> Sink:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A local stand-in for Slack, an AI "
                                                 "provider and any HTTP endpoint.")
    parser.add_argument("--port", type=int, default=8099)
    args = parser.parse_args(argv)
    sink = Sink(args.port, echo=True)
    print(f"sink listening on {sink.url} (slack: {sink.url}/slack)", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        sink.server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
