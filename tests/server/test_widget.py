"""The repo page's "try it" widget: the repo's e2e model run by onnxruntime-web in a real headless
Chromium, on the export's own sample files, must give the answers Python gives for the same files.

Also checked: a non-image file is an error in the page (no stack); a private repo's widget works
for a signed-in reader only; the files ``hub serve`` serves for it have the types browsers demand
(``application/wasm``, ``text/javascript``) and nothing outside the allow-list is served; the CSP
allows scripts from the hub only and only where the widget is; a repo with no e2e model, or a
server without the npm files, still renders its page with a line saying why; the page is complete
with JavaScript off. One tiny ``hub run`` (small-cnn on digits) is shared by the whole module.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import httpx
import numpy as np
import pytest

PICK_TIMEOUT = 60  # the first pick loads onnxruntime-web's 14 MB .wasm


@pytest.fixture(scope="module")
def trained(small_hub_run) -> tuple[str, Path, dict]:
    """(repo, export folder, config) of the shared real ``hub run`` (tests/server/conftest.py)."""
    from hub.server.web import assets

    if assets.ort() is None:  # a clear failure, never a skip
        pytest.fail(f"onnxruntime-web is not installed: `make setup` (npm ci in hub/server/web/vendor) or {assets.ENV_DIR}")
    repo, outcome = small_hub_run
    config = json.loads((outcome.export_dir / "config.json").read_text())
    assert config.get("e2e", {}).get("file") == "onnx/model_e2e.onnx", "hub run made no e2e model"
    return repo, outcome.export_dir, config


@pytest.fixture(scope="module")
def browser(chromium):
    driver = chromium()
    yield driver
    driver.quit()


def pick(driver, path: Path) -> tuple[str, list[tuple[str, float]], str]:
    """Choose ``path`` in the widget and wait for its answer: (state, top rows, result text)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    result = driver.find_element(By.CSS_SELECTOR, "[data-testid=try-result]")
    before = int(result.get_attribute("data-pick") or 0)
    driver.find_element(By.CSS_SELECTOR, "[data-testid=try-input]").send_keys(str(path))
    WebDriverWait(driver, PICK_TIMEOUT).until(
        lambda d: int(result.get_attribute("data-pick") or 0) > before
        and result.get_attribute("data-state") in ("done", "error"))
    rows = [(li.find_element(By.CLASS_NAME, "try-label").text, float(li.find_element(By.CLASS_NAME, "try-score").text))
            for li in result.find_elements(By.CSS_SELECTOR, "#try-top li")]
    return result.get_attribute("data-state"), rows, result.text


def python_top5(export: Path, config: dict, image: Path) -> list[tuple[str, float]]:
    """Top-5 of the e2e model in Python onnxruntime, on the pixels hub.runtime decodes from the file."""
    import onnxruntime as ort

    from hub.runtime.preprocess import decode_rgb

    session = ort.InferenceSession(str(export / config["e2e"]["file"]), providers=["CPUExecutionProvider"])
    probabilities = session.run(["probabilities"], {"image": decode_rgb(image)[None]})[0][0]
    order = np.argsort(-probabilities, kind="stable")[:5]
    return [(config["label_names"][i], float(probabilities[i])) for i in order]


def same_answer(got: list[tuple[str, float]], want: list[tuple[str, float]]) -> None:
    assert len(got) == 5, got
    assert got[0][0] == want[0][0], (got, want)
    assert np.allclose([s for _, s in got], [s for _, s in want], atol=2e-4), (got, want)  # shown to 4 places
    by_label = dict(want)
    for label, score in got:  # ties may swap places, but every label shown carries its own score
        assert label in by_label and abs(by_label[label] - score) < 2e-4, (got, want)


def severe_logs(driver) -> list[str]:
    """Console errors other than the missing favicon: a CSP violation or an uncaught error shows here."""
    return [e["message"] for e in driver.get_log("browser")
            if e["level"] == "SEVERE" and "favicon.ico" not in e["message"]]


def test_widget_answers_like_python_for_the_shipped_samples(server, trained, browser, tmp_path: Path) -> None:
    from PIL import Image

    from hub.runtime import load

    repo, export, config = trained
    browser.get(f"{server.url}/{repo}")
    model = load(export)  # the plain model with hub.runtime's own preprocessing
    tops = []
    for sample in config["samples"]:
        path = export / sample["file"]
        state, rows, text = pick(browser, path)
        assert state == "done", text
        same_answer(rows, python_top5(export, config, path))
        assert rows[0][0] == model.predict(path)[0]["label"]
        tops.append(rows)
    assert len({tuple(r) for r in tops}) == len(tops)  # each image its own answer: pixels reached the model
    browser.save_screenshot(str(tmp_path / "widget.png"))
    # A grey sample made RGBA: alpha 0..255 over hidden colours. Pillow drops alpha without touching RGB;
    # the widget must too (a 2D canvas would premultiply and turn the transparent pixels black).
    grey = np.asarray(Image.open(export / config["samples"][0]["file"]).convert("L").resize((40, 40), 0))
    rgba = np.dstack([grey, 255 - grey, np.roll(grey, 7, axis=0), np.tile(np.arange(40) * 6, (40, 1))]).astype(np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "translucent.png")
    state, rows, text = pick(browser, tmp_path / "translucent.png")
    assert state == "done" and "premultiplied" not in text, text
    same_answer(rows, python_top5(export, config, tmp_path / "translucent.png"))
    assert severe_logs(browser) == []
    assert (tmp_path / "widget.png").stat().st_size > 10_000


def test_a_file_that_is_no_image_is_an_error_in_the_page(server, trained, browser, tmp_path: Path) -> None:
    repo, export, config = trained
    browser.get(f"{server.url}/{repo}")
    (tmp_path / "notes.txt").write_text("not an image at all\n")
    state, rows, text = pick(browser, tmp_path / "notes.txt")
    assert state == "error" and rows == [], text
    assert "notes.txt is not an image" in text and "at " not in text.replace("at all", "") and "Error" not in text
    state, rows, text = pick(browser, export / config["samples"][0]["file"])  # the widget still works after it
    assert state == "done" and len(rows) == 5, text


def test_private_repo_widget_works_for_its_signed_in_owner_only(server, trained, bob, chromium) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    _, export, config = trained
    repo = f"bob/secret-{uuid.uuid4().hex[:6]}"
    bob.create_repo(repo, private=True)
    bob.upload_folder(folder_path=export, repo_id=repo, allow_patterns=["config.json", "onnx/model_e2e.onnx"])
    commit = bob.model_info(repo).sha
    assert httpx.get(f"{server.url}/{repo}/resolve/{commit}/onnx/model_e2e.onnx").status_code in (401, 404)
    driver = chromium()
    try:
        driver.get(f"{server.url}/login?next=/{repo}")
        driver.find_element(By.NAME, "token").send_keys("bob-token")
        driver.find_element(By.CSS_SELECTOR, "form[action='/login'] button").click()
        WebDriverWait(driver, 15).until(lambda d: d.find_elements(By.CSS_SELECTOR, "[data-testid=try-input]"))
        sample = export / config["samples"][1]["file"]
        state, rows, text = pick(driver, sample)  # config and model fetched with the session cookie
        assert state == "done", text
        same_answer(rows, python_top5(export, config, sample))
    finally:
        driver.quit()


def test_served_files_types_cache_and_csp(server, trained) -> None:
    from hub.server.web import assets

    repo = trained[0]
    page = httpx.get(f"{server.url}/{repo}")
    csp = page.headers["content-security-policy"]
    script_src = re.search(r"script-src ([^;]*)", csp).group(1).split()
    assert script_src == ["'self'", "'wasm-unsafe-eval'"] and "default-src 'none'" in csp  # no inline, no eval
    assert "connect-src 'self'" in csp
    assert all(re.search(r'\bsrc="/-/', tag) for tag in re.findall(r"<script[^>]*>", page.text))  # no inline script
    assert not re.search(r"<[^>]+\son[a-z]+\s*=", page.text, re.IGNORECASE)  # no inline event handlers
    base = re.search(r'data-ort="([^"]+)"', page.text).group(1)
    assert base == f"/-/ort/{assets.ort()[1]}/" and assets.ort()[1] == "1.30.0"  # the pinned package
    want = {"ort.wasm.min.mjs": "text/javascript", "ort-wasm-simd-threaded.mjs": "text/javascript",
            "ort-wasm-simd-threaded.wasm": "application/wasm"}
    for name, media in want.items():
        answer = httpx.head(server.url + base + name)
        assert answer.status_code == 200 and answer.headers["content-type"].split(";")[0] == media, name
        assert "immutable" in answer.headers["cache-control"] and answer.headers["x-content-type-options"] == "nosniff"
    script = httpx.get(f"{server.url}/-/static/try.js")
    assert script.headers["content-type"].startswith("text/javascript") and "onnxruntime" in script.text
    for path in (base + "ort.all.min.mjs", base + "..%2Fpackage.json", base.replace("1.30.0", "0.0.1") + "ort.wasm.min.mjs",
                 "/-/static/..%2Fassets.py", "/-/static/", "/-/ort"):
        assert httpx.get(server.url + path).status_code == 404, path


def test_no_e2e_model_or_no_npm_files_still_renders_with_a_reason(server, alice, repo_id, trained,
                                                                   monkeypatch, tmp_path: Path) -> None:
    def page(repo: str) -> httpx.Response:
        answer = httpx.get(f"{server.url}/{repo}")
        assert answer.status_code == 200 and 'id="files"' in answer.text
        assert "<script" not in answer.text and "script-src" not in answer.headers["content-security-policy"]
        return answer

    assert "no config.json" in page(repo_id).text.lower()
    text_config = {"format": 1, "modality": "text", "label_names": ["neg", "pos"]}
    alice.upload_file(path_or_fileobj=json.dumps(text_config).encode(), path_in_repo="config.json", repo_id=repo_id)
    assert re.search(r'id="try-why"[^>]*>[^<]*no end-to-end \(e2e\) model[^<]*text models', page(repo_id).text)
    missing = {**text_config, "modality": "image", "e2e": {"file": "onnx/model_e2e.onnx", "input": {"dtype": "uint8"}}}
    alice.upload_file(path_or_fileobj=json.dumps(missing).encode(), path_in_repo="config.json", repo_id=repo_id)
    assert "has no such file" in page(repo_id).text
    monkeypatch.setenv("HUB_ORT_WEB_DIR", str(tmp_path))  # a hub without the npm files (pip install, no make setup)
    assert "make setup" in page(trained[0]).text
    assert httpx.get(f"{server.url}/-/ort/1.30.0/ort.wasm.min.mjs").status_code == 404


def test_page_is_complete_with_javascript_off(server, trained, chromium) -> None:
    from selenium.webdriver.common.by import By

    repo, _, config = trained
    driver = chromium(javascript=False)
    try:
        driver.get(f"{server.url}/{repo}")
        assert driver.find_element(By.ID, "repo-title").text.startswith(repo)
        assert config["e2e"]["file"] in [a.text for a in driver.find_elements(By.CSS_SELECTOR, "#files a")]
        assert driver.find_elements(By.CSS_SELECTOR, "#metrics td") and driver.find_element(By.ID, "card").text
        assert "needs JavaScript" in driver.find_element(By.ID, "try-noscript").text
        assert not driver.find_element(By.CSS_SELECTOR, "[data-testid=try-input]").is_enabled()
        assert driver.find_element(By.CSS_SELECTOR, "[data-testid=try-result]").text == ""
    finally:
        driver.quit()
