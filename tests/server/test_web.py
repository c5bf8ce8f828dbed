"""The web pages of ``hub serve``: rendered in a real headless Chromium (Debian's ``chromium`` +
``chromium-driver``, driven by selenium) for a repo that ``hub run`` pushed, plus the page's
defences checked over HTTP: sanitised cards, private repos behind sign-in, CSRF, no open redirect."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx
import pytest


def submit(driver, button: str, landed: tuple[str, str]) -> None:
    """Click a form's button and wait until the answer page shows ``landed``: a click that submits a
    form returns before the next page has loaded (finding elements at once raced it in the full suite)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    old = driver.find_element(By.TAG_NAME, "html")
    driver.find_element(By.CSS_SELECTOR, button).click()
    WebDriverWait(driver, 15).until(lambda d: old.id != d.find_element(By.TAG_NAME, "html").id
                                    and d.find_elements(*landed))


@pytest.fixture(scope="module")
def pushed_by_hub_run(small_hub_run):
    """A tiny model through the whole ``hub run`` (tests/server/conftest.py)."""
    return small_hub_run


def test_model_page_in_a_real_browser(server, pushed_by_hub_run, tmp_path: Path, chromium) -> None:
    from selenium.webdriver.common.by import By

    repo, outcome = pushed_by_hub_run
    assert outcome.push.url == f"{server.url}/{repo}?rev={outcome.push.commit_sha}"  # the URL hub run prints ...
    driver = chromium()
    try:
        driver.get(outcome.push.url)  # ... opens the repo's page
        driver.save_screenshot(str(tmp_path / "model-page.png"))
        assert driver.find_element(By.ID, "repo-title").text.startswith(repo)
        card = driver.find_element(By.ID, "card").text
        assert "small-cnn" in card or "digits" in card
        cells = [td.text for td in driver.find_elements(By.CSS_SELECTOR, "#metrics td")]
        accuracy = outcome.summary["test"]["accuracy"]
        assert any(c.startswith("Accuracy") for c in cells) and f"{accuracy:.4f}" in cells, cells
        curves = driver.find_element(By.ID, "img-curves")
        assert driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth", curves) > 100
        files = [a.text for a in driver.find_elements(By.CSS_SELECTOR, "#files a")]
        assert "hub_manifest.json" in files and any(f.endswith(".onnx") for f in files)
        assert driver.find_elements(By.CSS_SELECTOR, "#variants td")[0].text == "fp32"
        # the recipe's export.formats: each (runtime, variant) with its gate verdict, as the card lists them
        rows = [[td.text for td in tr.find_elements(By.TAG_NAME, "td")]
                for tr in driver.find_elements(By.CSS_SELECTOR, "#formats tr")[1:]]
        verdicts = {(r[0], r[1]): r[-1] for r in rows}
        assert verdicts[("openvino", "fp32")] == "passed", rows
        assert ("openvino", "int8") in verdicts  # judged, kept or not (CPU-dependent)
        assert "Other runtimes" in card and "openvino/model.xml" in card
        assert "openvino/model.xml" in files and "openvino/model.bin" in files
        assert repo in driver.find_element(By.ID, "load-runtime").text
        driver.get(f"{server.url}/?search={repo.split('/')[1]}")
        assert [a.text for a in driver.find_elements(By.CSS_SELECTOR, "#repos a")] == [repo]
        driver.save_screenshot(str(tmp_path / "search.png"))
    finally:
        driver.quit()
    assert (tmp_path / "model-page.png").stat().st_size > 10_000


def test_private_repo_only_after_sign_in_in_the_browser(server, bob, tmp_path: Path, chromium) -> None:
    from selenium.webdriver.common.by import By

    repo = f"bob/hidden-{uuid.uuid4().hex[:6]}"
    bob.create_repo(repo, private=True)
    driver = chromium()
    try:
        driver.get(f"{server.url}/{repo}")
        assert "no such repo" in driver.page_source
        driver.get(f"{server.url}/login?next=/{repo}")
        driver.find_element(By.NAME, "token").send_keys("wrong")
        submit(driver, "form[action='/login'] button", (By.ID, "error"))
        assert "not valid" in driver.find_element(By.ID, "error").text
        driver.find_element(By.NAME, "token").send_keys("bob-token")
        submit(driver, "form[action='/login'] button", (By.ID, "repo-title"))
        assert driver.find_element(By.ID, "repo-title").text.startswith(repo)
        cookie = driver.get_cookie("hub_session")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        assert driver.execute_script("return document.cookie") == ""  # scripts cannot read the session
        driver.save_screenshot(str(tmp_path / "private.png"))
        submit(driver, "form[action='/logout'] button", (By.LINK_TEXT, "Sign in"))
        driver.get(f"{server.url}/{repo}")
        assert "no such repo" in driver.page_source
    finally:
        driver.quit()


HOSTILE = """---
tags: [x]
---
# Card <script>document.title='pwned'</script>

[click me](javascript:alert(1)) <img src=x onerror="alert(1)"> <a href="javascript:alert(2)">raw</a>
"""


def test_card_html_is_sanitised(server, alice, repo_id) -> None:
    alice.upload_file(path_or_fileobj=HOSTILE.encode(), path_in_repo="README.md", repo_id=repo_id)
    page = httpx.get(f"{server.url}/{repo_id}")
    card = page.text.split('id="card">', 1)[1].split("</div>", 1)[0]
    assert "<script" not in card and "<img" not in card  # no element: only escaped text
    assert not re.search(r"<a [^>]*href=\"javascript:", card, re.I)
    assert "&lt;script&gt;" in card  # shown as text, not run
    assert "script-src" not in page.headers["content-security-policy"]  # default-src 'none': no script at all


def test_sign_in_needs_its_csrf_value_and_never_redirects_off_site(server) -> None:
    client = httpx.Client(base_url=server.url)
    assert client.post("/login", data={"token": "alice-token", "csrf": "x"}).status_code == 403
    form = client.get("/login?next=//evil.example/")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    assert 'value="/"' in form.text  # the off-site next was replaced
    done = client.post("/login", data={"token": "alice-token", "csrf": csrf, "next": "https://evil.example/"})
    assert done.status_code == 303 and done.headers["location"] == "/"
    assert client.post("/logout", data={"csrf": "wrong"}).status_code == 403  # a cross-site form cannot sign out
    assert httpx.post(f"{server.url}/logout").status_code == 403
    assert client.put("/login").status_code in (404, 405)


def test_metrics_table_skips_malformed_model_index() -> None:
    from hub.server.web.render import metrics

    card = {"model-index": [
        "not a dict", {"results": "nope"},
        {"results": [{"task": "x", "dataset": {"name": "digits", "split": "test"},
                      "metrics": [{"type": "accuracy", "value": 0.9}, 7, {"name": "F1", "value": 0.8}]}]}]}
    assert metrics(card) == [
        {"task": "", "dataset": "digits", "split": "test", "metric": "accuracy", "value": 0.9},
        {"task": "", "dataset": "digits", "split": "test", "metric": "F1", "value": 0.8}]
    assert metrics(None) == [] and metrics({"model-index": {"a": 1}}) == []


def test_missing_repo_page_is_a_404_with_the_reason_header(server) -> None:
    """The server's rule for every 4xx (found by tests/robustness/test_server_fuzz.py on the web pages)."""
    page = httpx.get(f"{server.url}/nobody/nothing-{uuid.uuid4().hex[:6]}")
    assert page.status_code == 404 and "no such repo" in page.text
    assert "not found" in page.headers["x-error-message"].lower() and page.headers["x-error-code"] == "RepoNotFound"
