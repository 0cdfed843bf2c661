"""Headless Chromium driven over the DevTools protocol, on a pipe (--remote-debugging-pipe):
Python's standard library only, no WebSocket, no npm download.

    with Chromium() as browser:
        page = browser.new_page(1280, 900)
        page.open("file:///tmp/report.html")
        page.evaluate("document.title")
"""
import base64
import json
import os
import shutil
import subprocess
import tempfile
import time

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--no-default-browser-check",
         "--disable-extensions", "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
         "--remote-debugging-pipe"]


class BrowserError(Exception):
    pass


class Chromium:
    def __init__(self, executable=None, timeout=30):
        self.executable = executable or shutil.which("chromium") or "/usr/bin/chromium"
        self.timeout = timeout
        self.profile = tempfile.mkdtemp(prefix="lumos-chromium-")
        to_browser_read, self._to_browser = os.pipe()
        self._from_browser, from_browser_write = os.pipe()

        def pipes_as_3_and_4():  # Chromium reads commands from fd 3 and writes answers to fd 4
            os.dup2(to_browser_read, 3)
            os.dup2(from_browser_write, 4)

        self.process = subprocess.Popen([self.executable, *FLAGS, "--user-data-dir=" + self.profile, "about:blank"],
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, preexec_fn=pipes_as_3_and_4, pass_fds=(3, 4))
        os.close(to_browser_read)
        os.close(from_browser_write)
        self._buffer = b""
        self._next_id = 0
        self._events = []

    def __enter__(self):
        return self

    def __exit__(self, *error):
        self.close()

    def close(self):
        try:
            self.send("Browser.close")
        except Exception:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for fd in (self._to_browser, self._from_browser):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.profile, ignore_errors=True)

    def _read_message(self, deadline):
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise BrowserError("Chromium did not answer in time")
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise BrowserError("Chromium closed the pipe (exit code %s)" % self.process.poll())
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def send(self, method, params=None, session=None):
        self._next_id += 1
        command = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            command["sessionId"] = session
        os.write(self._to_browser, json.dumps(command).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            message = self._read_message(deadline)
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise BrowserError("%s: %s" % (method, message["error"].get("message")))
                return message.get("result", {})
            if "method" in message:
                self._events.append(message)

    def wait_event(self, method, session=None, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            for i, event in enumerate(self._events):
                if event["method"] == method and (session is None or event.get("sessionId") == session):
                    return self._events.pop(i)
            message = self._read_message(deadline)
            if "method" in message:
                self._events.append(message)

    def new_page(self, width=1280, height=900):
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = Page(self, session)
        page.send("Page.enable")
        page.send("Runtime.enable")
        page.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        return page


class Page:
    def __init__(self, browser, session):
        self.browser = browser
        self.session = session

    def send(self, method, params=None):
        return self.browser.send(method, params, self.session)

    def open(self, url):
        """Navigates and waits for the load event; returns the seconds it took."""
        self.browser._events = [e for e in self.browser._events if e["method"] != "Page.loadEventFired"]
        start = time.monotonic()
        result = self.send("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise BrowserError("cannot open %s: %s" % (url, result["errorText"]))
        self.browser.wait_event("Page.loadEventFired", self.session)
        return time.monotonic() - start

    def evaluate(self, expression):
        """The value of a JavaScript expression (promises are awaited); page errors raise."""
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                "awaitPromise": True})
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            raise BrowserError("%s: %s" % (expression[:80], details.get("exception", {}).get("description",
                                                                                          details.get("text"))))
        return result["result"].get("value")

    def exceptions(self):
        """Uncaught errors the page has thrown so far."""
        thrown = [e for e in self.browser._events
                  if e["method"] == "Runtime.exceptionThrown" and e.get("sessionId") == self.session]
        return [e["params"]["exceptionDetails"].get("exception", {}).get("description", "?") for e in thrown]

    def click(self, selector):
        """A real mouse click at the middle of the first element `selector` matches."""
        box = self.evaluate("(() => { const e = document.querySelector(%s); if (!e) return null;"
                            " e.scrollIntoView({block: 'center'}); const r = e.getBoundingClientRect();"
                            " return [r.left + r.width / 2, r.top + r.height / 2]; })()" % json.dumps(selector))
        if box is None:
            raise BrowserError("nothing matches %s" % selector)
        for kind in ("mousePressed", "mouseReleased"):
            self.send("Input.dispatchMouseEvent", {"type": kind, "x": box[0], "y": box[1], "button": "left",
                                                   "clickCount": 1})

    KEYS = {"Enter": (13, "\r"), "Escape": (27, ""), "ArrowLeft": (37, ""), "ArrowUp": (38, ""),
            "ArrowRight": (39, ""), "ArrowDown": (40, ""), "/": (191, "/"), "n": (78, "n"), "p": (80, "p")}

    def press(self, key):
        """A key press as the keyboard makes it (keydown with its text, keyup)."""
        code, text = self.KEYS[key]
        down = {"type": "keyDown" if text else "rawKeyDown", "key": key, "windowsVirtualKeyCode": code}
        if text:
            down["text"] = text
        self.send("Input.dispatchKeyEvent", down)
        self.send("Input.dispatchKeyEvent", {"type": "keyUp", "key": key, "windowsVirtualKeyCode": code})

    def type(self, text):
        self.send("Input.insertText", {"text": text})

    def select(self, selector, value):
        """Chooses an option as a user would (the element's change event fires)."""
        self.evaluate("(() => { const s = document.querySelector(%s); s.focus(); s.value = %s;"
                      " s.dispatchEvent(new Event('change', {bubbles: true})); })()"
                      % (json.dumps(selector), json.dumps(value)))

    def screenshot(self, path, full_page=False):
        params = {"format": "png"}
        if full_page:
            params["captureBeyondViewport"] = True
        data = self.send("Page.captureScreenshot", params)["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
