"""Diffuse Studio's page in a real headless Chromium (Debian's `chromium`; scripts/test-clients.sh installs
it when missing), driven over the Chrome DevTools Protocol: generate with the built-in model from the page,
check that the live view's step counter advanced step by step with previews, and that the gallery shows the
new image. Screenshots are written to $STUDIO_ARTIFACTS (default .build/artifacts) as studio.png (live view)
and studio-gallery.png, also when the test fails.

Runs as root in CI, hence --no-sandbox. The server has no --models: the built-in model is all it serves.
"""
import base64
import json
import os
import pathlib
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request

import pytest
import websocket

ROOT = pathlib.Path(__file__).resolve().parents[2]
ARTIFACTS = pathlib.Path(os.environ.get("STUDIO_ARTIFACTS", ROOT / ".build" / "artifacts"))
STEPS = 12


class CDP:
    """A minimal DevTools client: numbered commands, events buffered until read."""

    def __init__(self, ws_url: str):
        self.ws = websocket.create_connection(ws_url, timeout=60, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict] = []

    def call(self, method: str, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def eval(self, expression: str):
        r = self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in r:
            raise RuntimeError(f"{expression[:80]}…: {r['exceptionDetails']}")
        return r["result"].get("value")

    def wait_for(self, expression: str, timeout: float, what: str):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.eval(expression):
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")

    def screenshot(self, path: pathlib.Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))
        print(f"screenshot: {path}")


def start(cmd, line_has: str, timeout=60):
    """Starts a process and returns it with the first stdout/stderr line that contains `line_has`."""
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + timeout
    while time.time() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            break
        if line_has in line:
            # Keep reading what it prints, so a chatty process never blocks on a full pipe.
            threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()
            return proc, line
    proc.kill()
    raise AssertionError(f"{cmd[0]} did not print '{line_has}' (exit {proc.poll()})")


@pytest.fixture
def studio():
    data = pathlib.Path(tempfile.mkdtemp(prefix="diffuse-browser-"))
    proc, line = start([os.environ["DIFFUSE_BIN"], "serve", "--data", str(data), "--port", "0"], "listening on http://")
    yield line.split("listening on ")[1].split()[0].rstrip("/")
    proc.terminate()
    proc.wait(timeout=60)
    shutil.rmtree(data, ignore_errors=True)


@pytest.fixture
def page():
    binary = os.environ.get("CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    assert binary, "chromium is not installed (scripts/test-clients.sh installs Debian's chromium)"
    profile = tempfile.mkdtemp(prefix="diffuse-chromium-")
    proc, line = start([binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                        "--no-first-run", "--remote-debugging-port=0", "--remote-allow-origins=*",
                        f"--user-data-dir={profile}", "--window-size=1280,1000", "about:blank"], "DevTools listening on")
    port = int(line.split("ws://127.0.0.1:")[1].split("/")[0])
    targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30))
    target = next(t for t in targets if t["type"] == "page")
    cdp = CDP(target["webSocketDebuggerUrl"])
    cdp.call("Page.enable")
    cdp.call("Runtime.enable")
    yield cdp
    cdp.ws.close()
    proc.kill()
    proc.wait(timeout=30)
    shutil.rmtree(profile, ignore_errors=True)


def open_page(studio, page):
    page.call("Page.navigate", url=studio + "/")
    page.wait_for("document.readyState === 'complete' && document.querySelector('select[name=model]').options.length > 0",
                  30, "the page to load its model list")


def assert_no_exceptions(page):
    exceptions = [e for e in page.events if e.get("method") == "Runtime.exceptionThrown"]
    assert not exceptions, exceptions


def test_page_generates_with_builtin_model_live_view_and_gallery(studio, page):
    open_page(studio, page)
    try:
        assert page.eval("document.querySelector('select[name=model]').value") == "builtin"
        # The form offers the built-in model's defaults and no settings it would refuse.
        assert page.eval("document.querySelector('[name=width]').disabled") is True
        assert page.eval("document.querySelector('[name=negative_prompt]').disabled") is True
        # Every change of the step counter and of the live image is recorded as it happens (one SSE message
        # per step, each handled in its own task, so none is merged away).
        page.eval(f"""(() => {{
            const f = document.getElementById('settings');
            f.elements.prompt.value = 'a red circle and a blue square';
            f.elements.steps.value = {STEPS};
            f.elements.seed.value = 7;
            f.elements.preview_every.value = 1;
            window.__steps = []; window.__previews = 0;
            new MutationObserver(() => window.__steps.push(document.getElementById('live-step').textContent))
              .observe(document.getElementById('live-step'), {{ childList: true, characterData: true, subtree: true }});
            new MutationObserver(() => {{ if (document.getElementById('live-image').src.startsWith('data:')) window.__previews++; }})
              .observe(document.getElementById('live-image'), {{ attributes: true, attributeFilter: ['src'] }});
            document.getElementById('generate').click();
            return true;
        }})()""")
        page.wait_for("document.getElementById('live-step').textContent.startsWith('succeeded')", 120,
                      "the job to finish in the live view")
        texts = page.eval("window.__steps")
        counted = [int(t.split("step ")[1].split("/")[0]) for t in texts if " step " in f" {t}" and f"/{STEPS}" in t]
        assert counted == sorted(counted) and len(set(counted)) >= 3 and counted[-1] == STEPS, texts
        assert page.eval("window.__previews") >= 3
        image_url = page.eval("document.getElementById('live-image').getAttribute('src')")
        assert image_url.startswith("/api/images/"), image_url
        page.wait_for("document.getElementById('live-image').complete && document.getElementById('live-image').naturalWidth === 64",
                      30, "the finished image in the live view")
        assert page.eval("document.getElementById('live-error').textContent") == ""

        page.screenshot(ARTIFACTS / "studio.png")
        page.eval("document.querySelector('nav button[data-view=gallery]').click(), true")
        page.wait_for(f"[...document.querySelectorAll('#gallery-items img')].some(i => i.getAttribute('src') === '{image_url}' && i.complete && i.naturalWidth === 64)",
                      30, "the new image in the gallery")
        caption = page.eval("document.querySelector('#gallery-items figcaption').textContent")
        assert caption == "a red circle and a blue square"
        page.screenshot(ARTIFACTS / "studio-gallery.png")
    except BaseException:
        page.screenshot(ARTIFACTS / "studio-failure.png")
        raise
    assert_no_exceptions(page)


def test_compare_grid_with_builtin_model(studio, page):
    """The X/Y compare view runs one job per cell with the built-in model and lays the results out labelled."""
    open_page(studio, page)
    try:
        page.eval("""(() => {
            const f = document.getElementById('settings');
            f.elements.prompt.value = 'a red circle on a blue background';
            f.elements.steps.value = 4;
            f.elements.seed.value = 3;
            document.querySelector('nav button[data-view=compare]').click();
            document.getElementById('x-key').value = 'seed';
            document.getElementById('x-values').value = '1, 2';
            document.getElementById('y-key').value = 'cfg_scale';
            document.getElementById('y-values').value = '1, 4';
            document.getElementById('run-grid').click();
            return true;
        })()""")
        page.wait_for("document.getElementById('grid-status').textContent === 'done'", 120, "the grid to finish")
        heads = page.eval("[...document.querySelectorAll('#grid th')].map(t => t.textContent)")
        assert heads == ["", "seed: 1", "seed: 2", "cfg_scale: 1", "cfg_scale: 4"], heads
        page.wait_for("[...document.querySelectorAll('#grid td img')].filter(i => i.complete && i.naturalWidth === 64"
                      " && i.getAttribute('src').startsWith('/api/images/')).length === 4", 30, "four finished cells")
        captions = page.eval("[...document.querySelectorAll('#grid td figcaption')].map(c => c.textContent)")
        assert captions == ["seed 1", "seed 2", "seed 1", "seed 2"], captions
        # Different guidance with the same seed must give a different picture (each cell is its own job).
        srcs = page.eval("[...document.querySelectorAll('#grid td img')].map(i => i.getAttribute('src'))")
        assert len(set(srcs)) == 4, srcs
        page.screenshot(ARTIFACTS / "studio-compare.png")
    except BaseException:
        page.screenshot(ARTIFACTS / "studio-compare-failure.png")
        raise
    assert_no_exceptions(page)
