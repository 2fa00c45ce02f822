"""A small Chrome DevTools Protocol client over ``--remote-debugging-pipe``: test tooling for the report.

Chromium reads commands from its fd 3 and writes replies and events to its fd 4, each a JSON message
ended by a NUL byte, so two OS pipes are all the transport needed (no websocket package).

Run as a script to screenshot a report: ``python tests/report/devtools.py REPORT.html OUT.png``.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-pipe")
TIMEOUT_S = 30.0


class DevToolsError(RuntimeError):
    pass


class Browser:
    """Headless Chromium with one page attached; records every event for later assertions."""

    def __init__(self, executable: str = CHROMIUM, profile_dir: str | None = None) -> None:
        self._own_profile = profile_dir is None
        self.profile_dir = profile_dir or tempfile.mkdtemp(prefix="report-chromium-")
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def wire_pipes() -> None:  # in the child: our pipe ends become its fds 3 and 4
            read_end = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)
            write_end = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)

        self.process = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={self.profile_dir}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=wire_pipes, close_fds=False,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict[str, Any]] = []
        self.session = ""

    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise DevToolsError("no message from chromium before the deadline")
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise DevToolsError(f"chromium closed its DevTools pipe (exit code {self.process.poll()})")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        decoded = json.loads(message)
        if decoded.get("method") == "Page.javascriptDialogOpening":
            # An open dialog blocks the page (and its load event): record it, dismiss it, carry on.
            self._write("Page.handleJavaScriptDialog", {"accept": False}, decoded.get("sessionId", ""))
        return decoded

    def _write(self, method: str, params: dict[str, Any], session: str) -> int:
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        return self._next_id

    def send(self, method: str, params: dict[str, Any] | None = None, *, page: bool = True) -> dict[str, Any]:
        """Send a command (to the attached page unless ``page`` is false) and return its result."""
        sent = self._write(method, params or {}, self.session if page else "")
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == sent:
                if "error" in reply:
                    raise DevToolsError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str) -> dict[str, Any]:
        """The first event named ``method`` (already received or arriving before the deadline)."""
        deadline = time.monotonic() + TIMEOUT_S
        for event in self.events:
            if event.get("method") == method:
                return event
        while True:
            event = self._read_message(deadline)
            self.events.append(event)
            if event.get("method") == method:
                return event

    def open_page(self, width: int = 1280, height: int = 900) -> None:
        """Create a page, attach to it, and turn on the Page, Network and Runtime event domains."""
        target = self.send("Target.createTarget", {"url": "about:blank"}, page=False)
        attached = self.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}, page=False)
        self.session = attached["sessionId"]
        for domain in ("Page", "Network", "Runtime"):
            self.send(f"{domain}.enable")
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})

    def navigate(self, url: str) -> None:
        self.send("Page.navigate", {"url": url})
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise DevToolsError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, path: Path, full_page: bool = False, clip: dict[str, float] | None = None) -> None:
        """The viewport, the whole page, or ``clip`` (``x``, ``y``, ``width``, ``height`` in page pixels)."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            height = self.evaluate("document.documentElement.scrollHeight")
            clip = {"x": 0, "y": 0, "width": 1280, "height": height}
        if clip is not None:
            params["captureBeyondViewport"] = True
            params["clip"] = {**clip, "scale": 1}
        data = self.send("Page.captureScreenshot", params)["data"]
        path.write_bytes(base64.b64decode(data))

    def events_named(self, method: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e.get("method") == method]

    def close(self) -> None:
        try:
            self.send("Browser.close", page=False)
            self.process.wait(timeout=10)
        except (DevToolsError, OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        finally:
            os.close(self._to_browser)
            os.close(self._from_browser)
            if self._own_profile:
                shutil.rmtree(self.profile_dir, ignore_errors=True)

    def __enter__(self) -> Browser:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python tests/report/devtools.py REPORT.html OUT.png")
    with Browser() as browser:
        browser.open_page(height=int(os.environ.get("SCREENSHOT_HEIGHT", "900")))
        browser.navigate(Path(sys.argv[1]).resolve().as_uri())
        browser.screenshot(Path(sys.argv[2]))
