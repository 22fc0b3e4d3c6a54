"""Diffuse Studio against the real client libraries: the `openai` SDK (OpenAI Images API) and `webuiapi`
(AUTOMATIC1111's /sdapi/v1), plus gallery durability across `kill -9`.

Run through scripts/test-clients.sh, which builds `diffuse`, makes a venv with pinned client versions and
sets DIFFUSE_BIN. Each server runs on a free loopback port (--port 0; the port is read from its first line)
with the tiny fixture models of Tests/Fixtures (32x32 images, a few steps take well under a second).
"""
import base64
import io
import json
import os
import pathlib
import signal
import sqlite3
import subprocess
import tempfile
import time

import openai
import pytest
import requests
import webuiapi
from PIL import Image

ROOT = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "Tests" / "Fixtures"
KEY = "test-key-123"


class Server:
    """`diffuse serve` on a free port; stopped with SIGTERM (graceful) or SIGKILL."""

    def __init__(self, data: pathlib.Path, models: pathlib.Path | None, api_key: str | None = KEY):
        cmd = [os.environ["DIFFUSE_BIN"], "serve", "--data", str(data), "--port", "0"]
        if models:
            # Requests that name no model get the fast 32x32 fixture, not the built-in default.
            cmd += ["--models", str(models), "--default-model", "sd1"]
        if api_key:
            cmd += ["--api-key", api_key]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = self.proc.stdout.readline()
        assert "listening on http://127.0.0.1:" in line, line
        self.port = int(line.split("http://127.0.0.1:")[1].split("/")[0])
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=60)


@pytest.fixture(scope="session")
def models():
    folder = pathlib.Path(tempfile.mkdtemp(prefix="diffuse-models-"))
    (folder / "sd1").symlink_to(FIXTURES / "sd1")
    (folder / "sd2.safetensors").symlink_to(FIXTURES / "sd2.safetensors")
    return folder


@pytest.fixture(scope="session")
def server(models):
    s = Server(pathlib.Path(tempfile.mkdtemp(prefix="diffuse-data-")), models)
    yield s
    s.stop()
    assert s.proc.returncode == 0, "graceful shutdown should exit 0"


def auth():
    return {"Authorization": f"Bearer {KEY}"}


def parameters(image: Image.Image) -> str:
    return image.info.get("parameters", "")


# ---- OpenAI SDK -------------------------------------------------------------------------------------------

def test_openai_b64_json(server):
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=KEY)
    r = client.images.generate(prompt="a lighthouse", model="dall-e-3", n=2, size="32x32",
                               response_format="b64_json", extra_body={"steps": 3, "seed": 5})
    assert r.created > 0
    assert len(r.data) == 2
    images = [Image.open(io.BytesIO(base64.b64decode(d.b64_json))) for d in r.data]
    assert images[0].size == (32, 32)
    assert "Seed: 5" in parameters(images[0]) and "Seed: 6" in parameters(images[1])


def test_openai_url_and_base_url_without_v1(server):
    client = openai.OpenAI(base_url=server.url, api_key=KEY)   # some clients post to /images/generations
    r = client.images.generate(prompt="a boat", size="32x32", response_format="url", extra_body={"steps": 2})
    png = requests.get(r.data[0].url, headers=auth(), timeout=30)
    assert png.status_code == 200
    assert Image.open(io.BytesIO(png.content)).size == (32, 32)


def test_openai_errors(server):
    client = openai.OpenAI(base_url=f"{server.url}/v1", api_key=KEY)
    with pytest.raises(openai.BadRequestError) as e:
        client.images.generate(prompt="x", size="33x32")
    assert "multiple of 8" in str(e.value)
    assert e.value.body["param"] == "width"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=f"{server.url}/v1", api_key="wrong").images.generate(prompt="x")


# ---- webuiapi (AUTOMATIC1111) ----------------------------------------------------------------------------

@pytest.fixture()
def webui(server):
    api = webuiapi.WebUIApi(host="127.0.0.1", port=server.port, sampler="Euler a", steps=3)
    api.set_auth("user", KEY)
    return api


def test_webuiapi_txt2img_and_img2img(webui):
    r = webui.txt2img(prompt="a cat", negative_prompt="dog", width=32, height=32, seed=9, batch_size=2)
    assert len(r.images) == 2 and r.image.size == (32, 32)
    assert r.info["all_seeds"] == [9, 10]
    assert r.info["infotexts"][0] == parameters(r.image)
    assert "Negative prompt: dog" in parameters(r.image)
    assert "Sampler: Euler a" in parameters(r.image)

    r2 = webui.img2img(images=[r.image], prompt="a cat at night", denoising_strength=0.5, seed=1, steps=4)
    assert r2.image.size == (32, 32)
    assert "Denoising strength: 0.5" in parameters(r2.image)


def test_webuiapi_models_samplers_options(webui):
    titles = webui.util_get_model_names()
    assert [t.split(" ")[0] for t in titles] == ["builtin", "sd1", "sd2.safetensors"]
    assert "Euler a" in webui.util_get_sampler_names()
    webui.util_set_model("sd2", find_closest=True)
    assert webui.util_get_current_model().startswith("sd2")
    r = webui.txt2img(prompt="x", width=32, height=32, seed=3)
    assert r.info["sd_model_name"] == "sd2"
    webui.util_set_model("sd1", find_closest=True)


def test_webuiapi_progress_and_interrupt(server, webui):
    webui.util_wait_for_ready(check_interval=0.1)
    idle = webui.get_progress()
    assert idle["progress"] == 0.0 and idle["state"]["job_count"] == 0
    job = requests.post(f"{server.url}/api/jobs", headers=auth(),
                        json={"prompt": "long", "steps": 1000, "sampler": "euler"}, timeout=30).json()
    for _ in range(500):
        if webui.get_progress()["state"]["sampling_step"] >= 1:
            break
        time.sleep(0.02)
    assert webui.get_progress()["progress"] > 0
    assert webui.interrupt() == {}
    for _ in range(500):
        status = requests.get(f"{server.url}/api/jobs/{job['id']}", headers=auth(), timeout=30).json()["status"]
        if status != "running":
            break
        time.sleep(0.02)
    assert status == "cancelled"


def test_webuiapi_with_only_the_builtin_model():
    """`diffuse serve` without --models: the built-in shapes model, through webuiapi (txt2img, png-info, skip)."""
    s = Server(pathlib.Path(tempfile.mkdtemp(prefix="diffuse-builtin-")), None, api_key=None)
    try:
        api = webuiapi.WebUIApi(host="127.0.0.1", port=s.port, sampler="DDIM", steps=4)
        assert [t.split(" ")[0] for t in api.util_get_model_names()] == ["builtin"]
        # webuiapi sends eta=1.0 by default: the built-in model's own η, accepted; one outside 0…1 is refused.
        assert api.txt2img(prompt="a red circle", width=64, height=64, seed=5).image.size == (64, 64)
        with pytest.raises(RuntimeError, match="eta"):
            api.txt2img(prompt="a red circle", width=64, height=64, seed=5, eta=1.5)
        r = api.txt2img(prompt="a red circle", width=64, height=64, seed=5, eta=0)
        assert r.image.size == (64, 64)
        text = parameters(r.image)
        assert "Sampler: DDIM" in text and "Model: builtin" in text and "Seed: 5" in text
        assert r.info["sd_model_name"] == "builtin"
        with pytest.raises(RuntimeError, match="64x64"):
            api.txt2img(prompt="a red circle", width=512, height=512, eta=0)

        info = api.png_info(r.image)
        assert info.info == text
        assert info.parameters["Prompt"] == "a red circle" and info.parameters["Seed"] == "5"
        assert api.skip() == {}   # nothing running: a no-op, as in A1111
    finally:
        s.stop()


# ---- Gallery durability ----------------------------------------------------------------------------------

def test_gallery_survives_kill_9(models):
    data = pathlib.Path(tempfile.mkdtemp(prefix="diffuse-kill-"))
    s = Server(data, models, api_key=None)
    for seed in range(3):
        job = requests.post(f"{s.url}/api/jobs", json={"prompt": f"kill test {seed}", "steps": 2, "seed": seed}).json()
        for _ in range(500):
            if requests.get(f"{s.url}/api/jobs/{job['id']}").json()["status"] == "succeeded":
                break
            time.sleep(0.02)
    # A long job is running (writing nothing yet) when the server is killed.
    requests.post(f"{s.url}/api/jobs", json={"prompt": "interrupted", "steps": 1000, "sampler": "euler"})
    time.sleep(0.3)
    s.stop(signal.SIGKILL)

    db = sqlite3.connect(data / "gallery.sqlite")
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
    s2 = Server(data, models, api_key=None)
    try:
        listing = requests.get(f"{s2.url}/api/gallery").json()
        assert listing["total"] == 3
        for entry in listing["images"]:
            png = requests.get(f"{s2.url}{entry['url']}")
            assert png.status_code == 200
            assert entry["prompt"] in parameters(Image.open(io.BytesIO(png.content)))
    finally:
        s2.stop()
