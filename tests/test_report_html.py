"""``python -m seqlab.report PATH --html``: the self-contained page for a real small sweep (its table, the curves'
data, the images), samples and image limits on hand-made run folders, and the page driven in headless Chromium
(sorting, filtering, ticking two runs to draw their curves, no console errors)."""

from __future__ import annotations

import base64
import csv
import importlib.util
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import run_inprocess

from seqlab.report.command import main
from seqlab.report.html import ImageBudget, page_data, read_samples, write_html
from seqlab.report.runs import find_runs

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# three quick jobs of the copy task (about 5 s each), each with gradient-flow plots (PNGs) every 3 steps
SWEEP = [
    "-m",
    "task=copy",
    "model=rnn,gru,lstm",
    "task.delay=6",
    "task.length=2",
    "task.vocab=3",
    "model.hidden_size=8",
    "model.num_layers=1",
    "task.batch_size=4",
    "task.data.train_size=32",
    "task.data.val_size=8",
    "task.data.test_size=8",
    "trainer.max_steps=6",
    "trainer.val_check_interval=3",
    "trainer.limit_val_batches=2",
    "trainer.limit_test_batches=2",
    "trainer.enable_progress_bar=false",
    "trainer.enable_model_summary=false",
    "logger=csv",
    "callbacks=grad_flow",
    "callbacks.grad_flow.every_n_steps=3",
]
SCREENSHOT_ENV = "SEQLAB_REPORT_SCREENSHOT"  # set to a path (docs/img/report.png) to keep the browser's screenshot


@pytest.fixture(scope="module")
def sweep(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sweep")
    proc = run_inprocess(SWEEP, cwd=root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (found,) = (root / "outputs" / "multirun").glob("*/*/multirun.yaml")
    return found.parent


@pytest.fixture(scope="module")
def page(sweep, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    proc = run_inprocess([str(sweep), f"out={out}", "--html"], cwd=sweep, module="seqlab.report")
    assert proc.returncode == 0, proc.stderr
    return out / "report.html"


def embedded(page: Path) -> dict:
    """The JSON the page carries in ``<script type="application/json" id="report-data">``."""
    match = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page.read_text(), re.S)
    assert match, "no inline data"
    return json.loads(match.group(1))


def results_of(sweep: Path) -> dict[str, dict]:
    return {d.name: json.loads((d / "results.json").read_text()) for d in sweep.iterdir() if (d / ".hydra").is_dir()}


def test_page_holds_the_table_the_curves_and_the_images(sweep, page):
    out = page.parent
    assert {"report.csv", "report.md", "report_curves.png"} <= {p.name for p in out.iterdir()}, "the other files stay"
    text = page.read_text()
    assert "<script src" not in text and "http://" not in text.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in text, "nothing is fetched from the network"
    data = embedded(page)
    results = results_of(sweep)
    keys = [c["key"] for c in data["columns"]]
    assert keys[:3] == ["run", "status", "model"] and {"val/loss", "val/acc", "test/loss", "params"} <= set(keys)
    runs = {r["name"]: r for r in data["runs"]}
    assert set(runs) == set(results) and len(runs) == 3
    losses = [r["cells"][keys.index("val/loss")][0] for r in data["runs"]]
    assert losses == sorted(losses), "rows come best first"
    for name, run in runs.items():
        row = dict(zip(keys, run["cells"]))
        assert row["status"][0] == "ok" and row["val/loss"][0] == pytest.approx(results[name]["val/loss"])
        assert row["params"][0] == results[name]["trainable_parameters"]
        assert f"model={row['model'][0]}" in run["overrides"] and "task=copy" in run["overrides"]
        assert json.loads(run["results"])["val/acc"] == pytest.approx(results[name]["val/acc"])
        with open(sweep / name / "csv" / "metrics.csv", newline="") as fh:
            logged = [[int(r["step"]), float(r["val/loss"])] for r in csv.DictReader(fh) if r["val/loss"]]
        assert run["curves"]["val/loss"] == logged and len(logged) == 2
        pngs = sorted(str(p.relative_to(sweep / name)) for p in (sweep / name).rglob("*.png"))
        assert pngs and [i["name"] for i in run["images"]] == pngs
        for image in run["images"]:
            assert base64.b64decode(image["src"].removeprefix("data:image/png;base64,"))[:8] == PNG_MAGIC
    assert data["curve_metric"] == "val/loss" and {"val/loss", "val/acc"} <= set(data["curve_metrics"])


def test_html_flags_and_the_default_page(sweep, tmp_path, capsys):
    main([str(sweep), f"out={tmp_path}", "plot=false", "--html", "--out", str(tmp_path / "page" / "r.html")])
    assert (tmp_path / "page" / "r.html").is_file() and not (tmp_path / "report_curves.png").exists()
    main([str(sweep), f"out={tmp_path}", "plot=false", "--html"])
    assert (tmp_path / "report.html").is_file()
    with pytest.raises(SystemExit) as exc:
        main([str(sweep), "--out=x.html"])
    assert exc.value.code == 2 and "give --html too" in capsys.readouterr().err


def make_run(folder: Path, overrides: list[str], results: dict | None = None, error: str | None = None) -> Path:
    (folder / ".hydra").mkdir(parents=True)
    (folder / ".hydra" / "overrides.yaml").write_text("".join(f"- {o}\n" for o in overrides))
    if results is not None:
        (folder / "results.json").write_text(json.dumps(results))
    if error is not None:
        (folder / "failed.json").write_text(json.dumps({"error": error}))
    return folder


def test_samples_failed_runs_nan_and_the_image_budget(tmp_path):
    ok = make_run(tmp_path / "0", ["task=charlm", "model=lstm"], {"val/loss": 1.5, "test/loss": float("nan")})
    (ok / "cli.log").write_text(
        "[info] - step 50\n\n----- sample (step 20, temperature 0.8) -----\nROMEO: <b>&</b>\nline two\n-----\n"
        "\n----- sample (step 40, temperature 0.8) -----\nJULIET: hi\n-----\n"
    )
    table = ok / "wandb" / "run-1" / "files" / "media" / "table"
    table.mkdir(parents=True)
    wandb_rows = [[20, 0.8, "ROMEO: <b>&</b>\nline two"], [60, 0.8, "from W&B"]]
    (table / "samples_3_abc.table.json").write_text(
        json.dumps({"columns": ["step", "temperature", "text"], "data": wandb_rows})
    )
    (table.parent / "images").mkdir()
    (table.parent / "images" / "copy.png").write_bytes(PNG_MAGIC + b"0" * 10)  # W&B's copy: not shown
    (ok / "grad_flow").mkdir()
    (ok / "grad_flow" / "small.png").write_bytes(PNG_MAGIC + b"0" * 100)
    (ok / "grad_flow" / "big.png").write_bytes(PNG_MAGIC + b"0" * 5000)
    (ok / "attention").mkdir()
    (ok / "attention" / "late.png").write_bytes(PNG_MAGIC + b"0" * 900)
    make_run(tmp_path / "1", ["task=charlm", "model=gru"], error="model.bidirectional: cannot be causal")
    runs = find_runs([tmp_path])
    samples = read_samples(runs[0])
    assert [(s["step"], s["text"]) for s in samples] == [
        (20, "ROMEO: <b>&</b>\nline two"),
        (40, "JULIET: hi"),
        (60, "from W&B"),
    ]
    data = page_data(runs, budget=ImageBudget(max_image=1000, max_total=950))
    images = {i["name"]: i for i in data["runs"][0]["images"]}
    assert set(images) == {"attention/late.png", "grad_flow/big.png", "grad_flow/small.png"}
    assert images["attention/late.png"]["src"].startswith("data:image/png;base64,")
    assert "cap for one image" in images["grad_flow/big.png"]["skipped"]
    assert "budget" in images["grad_flow/small.png"]["skipped"], "attention/late.png came first and spent it"
    assert data["images_skipped"] == 2
    failed = data["runs"][1]
    assert failed["status"] == "failed" and failed["error"].startswith("model.bidirectional")
    page = write_html(tmp_path / "report.html", runs)
    text = page.read_text()
    assert "<b>&</b>" not in text and "nan" in json.dumps(embedded(page)["runs"][0]["cells"])
    assert json.loads(embedded(page)["runs"][0]["results"])["test/loss"] == "nan"


# ---- the page in a real browser ------------------------------------------------------------------------------------


def chromium() -> tuple[str, str]:
    """(browser, driver) paths; installs Debian's chromium and chromium-driver where missing and possible, else
    skips with the reason."""
    if importlib.util.find_spec("selenium") is None:
        pytest.skip("the Python package selenium is not installed (pip install selenium)")

    def found() -> tuple[str | None, str | None]:
        browser = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
        return browser, shutil.which("chromedriver")

    browser, driver = found()
    if browser and driver:
        return browser, driver
    missing = " and ".join(n for n, p in (("chromium", browser), ("chromedriver", driver)) if not p)
    if os.environ.get("SEQLAB_NO_APT"):
        pytest.skip(f"{missing} not found, and SEQLAB_NO_APT forbids installing them")
    if not shutil.which("apt-get") or os.geteuid() != 0:
        pytest.skip(f"{missing} not found, and no apt-get run as root to install Debian's chromium, chromium-driver")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "chromium", "chromium-driver"]
    log = ""
    for commands in ([install], [["apt-get", "update", "-q"], install]):
        for command in commands:
            proc = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
            log = (proc.stdout + proc.stderr)[-600:]
            if proc.returncode:
                break
        browser, driver = found()
        if browser and driver:
            return browser, driver
    pytest.skip(f"{missing} not found and apt-get could not install them: {log}")


@pytest.fixture
def browser(tmp_path):
    browser_path, driver_path = chromium()
    from selenium import webdriver
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser_path
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        "--no-first-run",
        "--window-size=1280,1500",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    except WebDriverException as exc:
        pytest.skip(f"{browser_path} with {driver_path} did not start: {exc.msg}")
    yield driver
    driver.quit()


@pytest.mark.slow  # may install Chromium with apt-get first
def test_page_in_headless_chromium(browser, sweep, page, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    results = results_of(sweep)
    browser.get(page.as_uri())
    wait = WebDriverWait(browser, 10)

    def names() -> list[str]:
        return [r.find_elements(By.TAG_NAME, "td")[1].text for r in rows()]

    def rows():
        return [r for r in browser.find_elements(By.CSS_SELECTOR, "#runs tbody tr") if r.is_displayed()]

    def curves():
        return browser.find_elements(By.CSS_SELECTOR, "#chart path.curve")

    first = names()
    assert sorted(first) == sorted(results) and first == sorted(results, key=lambda n: results[n]["val/loss"])
    # sort by a metric: val/loss is the page's sort, so a click flips it to worst first; then params, smallest first
    for key, descending, field in (("val/loss", True, "val/loss"), ("params", False, "trainable_parameters")):
        header = browser.find_element(By.CSS_SELECTOR, f'th[data-key="{key}"]')
        before = names()
        header.click()
        assert header.get_attribute("aria-sort") == ("descending" if descending else "ascending")
        sign = -1 if descending else 1
        expected = sorted(results, key=lambda n: (sign * results[n][field], first.index(n)))  # ties: page order
        assert names() == expected
        if key == "val/loss" and len({results[n][field] for n in results}) == len(results):
            assert names() == before[::-1]
    # filter by override text
    browser.find_element(By.ID, "filter").send_keys("model=gru")
    assert [r.find_elements(By.TAG_NAME, "td")[3].text for r in rows()] == ["gru"]
    browser.find_element(By.ID, "filter").clear()
    browser.execute_script("document.getElementById('filter').dispatchEvent(new Event('input'))")
    assert len(rows()) == 3
    # tick two runs: two curves, each through both validations
    browser.find_element(By.ID, "select-none").click()
    assert not curves() and "tick runs" in browser.find_element(By.ID, "chart").text
    boxes = browser.find_elements(By.CSS_SELECTOR, "#runs tbody input.pick")
    picked = [boxes[0].get_attribute("data-run"), boxes[2].get_attribute("data-run")]
    boxes[0].click()
    boxes[2].click()
    wait.until(lambda _: len(curves()) == 2)
    assert sorted(c.get_attribute("data-run") for c in curves()) == sorted(picked)
    assert all(c.get_attribute("d").count("L") == 1 for c in curves()), "two validations: one segment each"
    assert len(browser.find_elements(By.CSS_SELECTOR, "#legend li")) == 2
    Select(browser.find_element(By.ID, "metric")).select_by_value("val/acc")
    wait.until(lambda _: "val/acc" in browser.find_element(By.CSS_SELECTOR, "#chart svg").text)
    assert len(curves()) == 2
    # a run's details: its overrides, results and every PNG, decoded
    browser.find_elements(By.CSS_SELECTOR, "a.run-link")[0].click()
    details = browser.find_element(By.CSS_SELECTOR, "details.run-details[open]")
    wait.until(lambda _: details.find_elements(By.TAG_NAME, "img"))
    name = details.find_element(By.TAG_NAME, "summary").text.split(" ")[0]
    assert len(details.find_elements(By.TAG_NAME, "img")) == len(list((sweep / name).rglob("*.png")))
    assert "task=copy" in details.text and '"val/loss"' in details.text
    decoded = "return Array.from(arguments[0].querySelectorAll('img')).every(i => i.complete && i.naturalWidth > 0)"
    wait.until(lambda _: browser.execute_script(decoded, details))
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
    # a picture of the page for the docs: the table and the curves of the best runs
    browser.execute_script("arguments[0].open = false; window.scrollTo(0, 0)", details)
    browser.find_element(By.ID, "select-best").click()
    browser.save_screenshot(str(tmp_path / "report.png"))
    assert (tmp_path / "report.png").read_bytes()[:8] == PNG_MAGIC
    if os.environ.get(SCREENSHOT_ENV):
        shutil.copyfile(tmp_path / "report.png", os.environ[SCREENSHOT_ENV])
