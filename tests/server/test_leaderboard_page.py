"""``/leaderboard`` of a real ``hub serve``: CSVs written by ``results.to_csv`` and pushed with the stock
huggingface_hub client into the leaderboard dataset repo, the page read over HTTP and in Chromium.

The module's server is started with ``leaderboard="team/board"`` (the ``hub serve --leaderboard``
plumbing); the session's server keeps the default ``zoo/leaderboard``, which nobody pushed."""

from __future__ import annotations

import html
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from huggingface_hub import CommitOperationAdd, HfApi

from hub.leaderboard import results
from hub.server.serving import ServerHandle, start_background
from hub.server.web import plot

BOARD = "team/board"
SVG = "{http://www.w3.org/2000/svg}"
EVIL = "<script>alert(1)</script>"


def row(entry: str, variant: str, value: float, p50: float, *, dataset: str = "cifar10",
        cpu: str = "AMD EPYC 7B13", **extra) -> dict:
    """A row as ``hub zoo bench`` writes one: every column set, realistic values."""
    return {"entry": entry, "variant": variant, "runtime": "onnxruntime", "runtime_version": "1.20.1",
            "task": "image-classification", "dataset": dataset, "split": "test", "revision": "3f1c2a9",
            "samples": 10000, "metric": "accuracy", "metric_value": value, "params": 11_689_512,
            "gflops": 1.82, "size_mb": 44.6, "latency_p50_ms": p50, "latency_p90_ms": p50 * 1.2,
            "throughput_b32": 32_000 / p50 / 10, "threads": 2, "cpu": cpu, "isa": "avx2", "cores": 2,
            "repo": f"team/{entry}", "repo_commit": "a" * 40, "hub_commit": "78fb32e", "date": "2026-12-06",
            "command": f"hub zoo bench {entry}", **extra}


# cifar10 on the EPYC: a, b, d on the front; c and e beaten (latencies span 30x: a log axis)
EPYC = [row("resnet18-cifar10", "fp32", 0.85, 2.5), row("mobilenet-cifar10", "int8", 0.80, 1.0),
        row("resnet18-cifar10", "int8", 0.83, 3.0), row("vit-s-cifar10", "fp32", 0.91, 12.0),
        row("vit-b-cifar10", "fp32", 0.90, 30.0),
        row("small-cnn-digits", "fp32", 0.97, 0.2, dataset="digits"),
        row("small-cnn-digits", "int8", 0.96, 0.15, dataset="digits")]
XEON = [row("resnet18-cifar10", "fp32", 0.85, 1.9, cpu="Intel Xeon 8375C"),
        row("vit-s-cifar10", "fp32", 0.91, 7.5, cpu="Intel Xeon 8375C")]
DEFAULT_ORDER = ["vit-s-cifar10", "vit-b-cifar10", "resnet18-cifar10", "resnet18-cifar10", "mobilenet-cifar10"]


@pytest.fixture(scope="module")
def board_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerHandle]:
    handle = start_background(tmp_path_factory.mktemp("leaderboard-data"),
                              tokens={"alice-token": "alice", "bob-token": "bob"}, orgs={"team": {"alice"}},
                              leaderboard=BOARD)
    yield handle
    handle.stop()


@pytest.fixture
def publish(board_server: ServerHandle):
    """``publish({path: text}, private=)``: the leaderboard repo made afresh with exactly those files."""
    api = HfApi(endpoint=board_server.url, token="alice-token")

    def push(files: dict[str, str], private: bool = False) -> None:
        api.delete_repo(BOARD, repo_type="dataset", missing_ok=True)
        api.create_repo(BOARD, repo_type="dataset", private=private)
        if ".gitattributes" in files:  # first, so that the upload asks it which files go to LFS
            api.upload_file(path_or_fileobj=files.pop(".gitattributes").encode(), path_in_repo=".gitattributes",
                            repo_id=BOARD, repo_type="dataset")
        if files:
            api.create_commit(BOARD, repo_type="dataset", commit_message="bench",
                              operations=[CommitOperationAdd(p, t.encode()) for p, t in files.items()])

    return push


def machines() -> dict[str, str]:
    return {"results/amd-epyc-7b13-2t.csv": results.to_csv(EPYC),
            "results/intel-xeon-8375c-2t.csv": results.to_csv(XEON)}


def get(server: ServerHandle, query: str = "", token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.get(f"{server.url}/leaderboard{query}", headers=headers, timeout=30)
    assert response.status_code == 200, response.text[:500]
    return response


def sections(page: str) -> list[str]:
    return re.findall(r'<section class="group".*?</section>', page, re.DOTALL)


def entries(section: str) -> list[tuple[str, bool]]:
    """``(entry text, on the front)`` of each table row, in page order."""
    found = []
    for classes, body in re.findall(r'<tr class="(row[^"]*)"[^>]*>(.*?)</tr>', section, re.DOTALL):
        cell = re.search(r'<td class="entry"[^>]*>(.*?)</td>', body, re.DOTALL).group(1)
        text = html.unescape(re.sub(r"<[^>]+>", "", cell)).replace("★", "").strip()
        found.append((text, "front" in classes.split()))
    return found


def svg(section: str) -> ET.Element:
    return ET.fromstring(re.search(r"<svg.*?</svg>", section, re.DOTALL).group(0))


def test_groups_tables_rows_and_the_pareto_front(board_server, publish) -> None:
    publish(machines())
    page = get(board_server).text
    found = sections(page)
    assert len(found) == 3  # (cifar10, EPYC), (cifar10, Xeon), (digits, EPYC): latencies never mixed
    headings = [re.search(r"<h2>(.*?)</h2>", s, re.DOTALL).group(1) for s in found]
    assert "AMD EPYC 7B13, 2 threads" in headings[0] and "cifar10" in headings[0]
    assert "Intel Xeon 8375C" in headings[1] and "digits" in headings[2]
    epyc = found[0]
    assert [e for e, _ in entries(epyc)] == DEFAULT_ORDER  # default: metric value, best first
    rows = results.groups(results.from_csv(results.to_csv(EPYC)))[
        ("image-classification", "cifar10", "AMD EPYC 7B13, 2 threads")]
    front = results.pareto(rows)
    assert {(r["entry"], r["variant"]) for r in front} == {("mobilenet-cifar10", "int8"),
                                                           ("resnet18-cifar10", "fp32"), ("vit-s-cifar10", "fp32")}
    marked = [e for e, star in entries(epyc) if star]
    assert sorted(marked) == sorted(r["entry"] for r in front)
    assert epyc.count("★") == 3 and 'href="/team/vit-s-cifar10?rev=' + "a" * 40 + '"' in epyc
    assert "hub zoo bench vit-b-cifar10" in epyc and "44.60" in epyc and "11.7M" in epyc

    plot_el = svg(epyc)
    circles = {c.find(f"{SVG}title").text: c for c in plot_el.iter(f"{SVG}circle") if c.find(f"{SVG}title") is not None}
    assert len(circles) == len(rows)
    assert {t for t, c in circles.items() if "front" in c.get("class")} == {plot.point_title(r) for r in front}
    polyline = plot_el.find(f"{SVG}polyline")
    points = [tuple(map(float, p.split(","))) for p in polyline.get("points").split()]
    expected = [(float(circles[plot.point_title(r)].get("cx")), float(circles[plot.point_title(r)].get("cy")))
                for r in front]
    assert points == expected  # the line joins exactly the front, fastest first
    assert "log scale" in ET.tostring(plot_el, encoding="unicode")  # 1 ms .. 30 ms spans > 10x
    assert "linear" in ET.tostring(svg(found[1]), encoding="unicode")  # 1.9 .. 7.5 ms does not


def test_sort_links_reorder_the_rows(board_server, publish) -> None:
    publish(machines())
    page = get(board_server).text
    assert 'href="?sort=latency_p50_ms&amp;order=asc"' in page  # a first click: the fast end first
    assert 'href="?sort=metric_value&amp;order=asc"' in page  # the current column flips
    fast = sections(get(board_server, "?sort=latency_p50_ms&order=asc").text)[0]
    assert [e for e, _ in entries(fast)] == ["mobilenet-cifar10", "resnet18-cifar10", "resnet18-cifar10",
                                             "vit-s-cifar10", "vit-b-cifar10"]
    slow = get(board_server, "?sort=latency_p50_ms&order=desc").text
    assert [e for e, _ in entries(sections(slow)[0])] == ["vit-b-cifar10", "vit-s-cifar10", "resnet18-cifar10",
                                                          "resnet18-cifar10", "mobilenet-cifar10"]
    assert 'href="?sort=latency_p50_ms&amp;order=asc"' in slow
    by_name = sections(get(board_server, "?sort=entry&order=desc").text)[0]
    assert entries(by_name)[0][0] == "vit-s-cifar10"
    for bad in ("?sort=command", "?sort=__class__&order=asc"):  # not a sortable column: the default order
        assert [e for e, _ in entries(sections(get(board_server, bad).text)[0])] == DEFAULT_ORDER, bad
    sideways = [e for e, _ in entries(sections(get(board_server, "?sort=entry&order=sideways").text)[0])]
    assert sideways == sorted(DEFAULT_ORDER) != DEFAULT_ORDER  # a bad order: the column's own first order


def test_untrusted_names_are_escaped_in_table_and_plot(board_server, publish) -> None:
    evil = [row(EVIL, "fp32\"'><b>", 0.9, 2.0, repo="//evil.example/x"), row("ok-model", "fp32", 0.8, 1.0)]
    publish({"results/evil.csv": results.to_csv(evil)})
    response = get(board_server)
    page = response.text
    assert EVIL not in page and "<b>" not in page
    section = sections(page)[0]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in section.split("</svg>")[1]  # the table cell
    assert "evil.example" not in page  # a crafted repo cell makes no (off-site) link
    titles = [c.find(f"{SVG}title").text for c in svg(section).iter(f"{SVG}circle")
              if c.find(f"{SVG}title") is not None]
    assert any(t.startswith(EVIL + " fp32\"'><b>") for t in titles)  # parsed back: text, not markup
    csp = response.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src" not in csp  # no script may run on this page
    assert "<script" not in page


def test_a_malformed_csv_is_one_line_and_the_others_render(board_server, publish) -> None:
    broken = results.to_csv(XEON).replace("1.9,", "fast,", 1)
    publish({"results/amd-epyc-7b13-2t.csv": results.to_csv(EPYC), "results/bad.csv": "entry,variant\nx,y\n",
             "results/intel-xeon-8375c-2t.csv": broken, "results/notes.txt": "not a CSV"})
    page = get(board_server).text
    errors = [html.unescape(e) for e in re.findall(r'<p class="error csv-error">(.*?)</p>', page, re.DOTALL)]
    assert len(errors) == 2, errors
    assert f"{BOARD}/results/bad.csv" in errors[0] and "no column" in errors[0]
    assert f"{BOARD}/results/intel-xeon-8375c-2t.csv:2" in errors[1] and "'fast' is not a number" in errors[1]
    assert len(sections(page)) == 2 and "Intel Xeon" not in page.split("csv-error")[-1]
    assert [e for e, _ in entries(sections(page)[0])] == DEFAULT_ORDER


def test_extreme_numbers_cost_one_line_or_a_bounded_plot_never_the_page(board_server, publish) -> None:
    wide = [row(name, "fp32", value, p50, throughput_b32=100.0)
            for name, value, p50 in (("tiny", 0.5, 1e-300), ("huge", 0.9, 8e6), ("mid", 0.7, 3.0))]
    overflow = results.to_csv([row("x", "fp32", 0.9, 1.0)]).replace(",0.9,", ",1.7e308,", 1)
    digits = results.to_csv([row("y", "fp32", 0.9, 1.0)]).replace(",11689512,", "," + "9" * 400 + ",", 1)
    publish({"results/wide.csv": results.to_csv(wide), "results/overflow.csv": overflow,
             "results/digits.csv": digits})
    page = get(board_server).text
    errors = [html.unescape(e) for e in re.findall(r'<p class="error csv-error">(.*?)</p>', page, re.DOTALL)]
    assert len(errors) == 2 and all("out of range" in e for e in errors), errors
    (section,) = sections(page)
    labels = [t.text for t in svg(section).iter(f"{SVG}text")]
    assert len(labels) < 40, labels  # 300 decades of latency: about ten tick labels, not hundreds
    assert sorted(e for e, _ in entries(section)) == ["huge", "mid", "tiny"]


def test_csvs_in_lfs_are_read_and_an_oversized_one_is_refused(board_server, publish) -> None:
    big = results.to_csv(XEON) + "#" * (10 * 1000 * 1000)  # >= 10 MB: the client stores it in LFS
    publish({".gitattributes": "results/amd-*.csv filter=lfs diff=lfs merge=lfs -text\n",
             "results/amd-epyc-7b13-2t.csv": results.to_csv(EPYC), "results/intel-xeon-8375c-2t.csv": big})
    tree = HfApi(endpoint=board_server.url).list_repo_tree(BOARD, "results", repo_type="dataset")
    assert all(f.lfs is not None for f in tree)  # both really are LFS objects on the server
    page = get(board_server).text
    errors = [html.unescape(e) for e in re.findall(r'<p class="error csv-error">(.*?)</p>', page, re.DOTALL)]
    assert len(errors) == 1 and "results/intel-xeon-8375c-2t.csv: larger than 4 MiB" in errors[0]
    assert [e for e, _ in entries(sections(page)[0])] == DEFAULT_ORDER  # read from the LFS object


def test_private_leaderboard_only_for_readers(board_server, publish) -> None:
    publish(machines(), private=True)
    for token in (None, "bob-token"):
        page = get(board_server, token=token).text
        assert "No leaderboard yet" in page and "vit-s-cifar10" not in page and "hub zoo bench --all" in page
    assert "(or it is private: sign in to see it)" in get(board_server).text
    assert len(sections(get(board_server, token="alice-token").text)) == 3


def test_no_csv_yet_says_how_to_make_one(board_server, publish, server) -> None:
    publish({"README.md": "# leaderboard\n"})
    page = get(board_server).text
    assert "has no <code>results/*.csv</code>" in page and "hub zoo bench --all" in page
    assert f"export HF_ENDPOINT={board_server.url}\nhub zoo bench --all --repo {BOARD}" in page
    default = get(server).text  # the session's server: the default id, never pushed
    assert "no dataset repo <code>zoo/leaderboard</code>" in default and 'id="nav-leaderboard"' in default


def test_serve_refuses_a_bad_leaderboard_id(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from hub.cli import cli

    done = CliRunner().invoke(cli, ["serve", "--data", str(tmp_path / "d"), "--leaderboard", "../etc"])
    assert done.exit_code != 0 and "--leaderboard: Invalid repo id '../etc'" in done.output
    assert not (tmp_path / "d").exists()  # refused before anything was made


def test_leaderboard_in_a_real_browser(board_server, publish, chromium, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    publish(machines())
    driver = chromium()
    try:
        driver.get(f"{board_server.url}/leaderboard")
        group = driver.find_element(By.ID, "group-1")
        assert len(group.find_elements(By.CSS_SELECTOR, "svg circle.point")) == 5
        assert len(group.find_elements(By.CSS_SELECTOR, "svg polyline.pareto")) == 1
        assert group.find_elements(By.CSS_SELECTOR, "td.entry")[0].text == "★ vit-s-cifar10"
        old = driver.find_element(By.TAG_NAME, "html")
        group.find_element(By.LINK_TEXT, "p50 ms").click()
        WebDriverWait(driver, 15).until(lambda d: old.id != d.find_element(By.TAG_NAME, "html").id)
        assert driver.current_url.endswith("/leaderboard?sort=latency_p50_ms&order=asc")
        names = [td.text.replace("★", "").strip()
                 for td in driver.find_elements(By.CSS_SELECTOR, "#group-1 td.entry")]
        assert names == ["mobilenet-cifar10", "resnet18-cifar10", "resnet18-cifar10", "vit-s-cifar10",
                         "vit-b-cifar10"]
        driver.save_screenshot(str(tmp_path / f"leaderboard-{uuid.uuid4().hex[:6]}.png"))
        refused = [e["message"] for e in driver.get_log("browser")
                   if "Content Security Policy" in e["message"] or "Refused" in e["message"]]
        assert refused == []
    finally:
        driver.quit()
