"""The calculator page in a real headless Chromium (Debian's chromium and chromium-driver, driven by Selenium).

A lesion is entered in the form; the probability and interval the page displays must be what
``microcalc predict`` (``scoring.predict_file``, the CLI's code path) writes for the same lesion and
fit - the text as the report formats it, and the exact numbers the page keeps in data attributes.
Skipped, with the reason, only when Chromium, its driver or Selenium is not installed (CI installs them).
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pandas as pd
import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
    pytest.skip(
        "needs Debian's chromium and chromium-driver (apt-get install -y chromium chromium-driver)",
        allow_module_level=True,
    )
webdriver = pytest.importorskip("selenium.webdriver", reason="needs selenium (pip install -e '.[test]')")
pytest.importorskip("uvicorn")

from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

import microcalc  # noqa: E402
from microcalc.batch.scoring import predict_file  # noqa: E402
from microcalc.reporting.figures import interval, percent  # noqa: E402
from microcalc.web.app import create_app  # noqa: E402
from microcalc.web.server import allowed_hosts  # noqa: E402
from test_web import running, shared_fit_path  # noqa: E402  (tests/ is on sys.path: the shared small fit)

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
WAIT = 30  # seconds: the first answer waits for the page's debounce and one posterior computation


@pytest.fixture(scope="module")
def fit_path(tmp_path_factory) -> Path:
    return shared_fit_path(tmp_path_factory)


@pytest.fixture(scope="module")
def url(fit_path):
    app = create_app(microcalc.load(fit_path), fit_path, allowed_hosts=allowed_hosts("127.0.0.1"))
    with running(app) as (host, port):
        yield f"http://{host}:{port}/"


@pytest.fixture(scope="module")
def downloads(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(downloads):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument("--window-size=1280,1000")
    options.add_experimental_option(
        "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False}
    )
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def settled(driver, state: str = "ready") -> None:
    """Wait until the page has answered the last change of the form."""
    WebDriverWait(driver, WAIT).until(
        lambda d: d.find_element(By.ID, "result").get_attribute("data-state") in ("ready", "error")
    )
    assert driver.find_element(By.ID, "result").get_attribute("data-state") == state


def cli_prediction(fit_path: Path, cells: dict, tmp_path: Path, site: str | None = None) -> pd.Series:
    """What `microcalc predict [--site S]` writes for one lesion given as CSV cells."""
    cases = tmp_path / "case.csv"
    pd.DataFrame({"lesion_id": ["case"], **{k: [v] for k, v in cells.items()}}).to_csv(cases, index=False)
    out = tmp_path / "pred.csv"
    predict_file(fit_path, cases, out, site=site)
    return pd.read_csv(out).iloc[0]


def displayed(driver) -> dict:
    find = lambda i: driver.find_element(By.ID, i)  # noqa: E731
    return {
        "mean": find("p-mean").text,
        "ci": find("p-ci").text,
        "p_malignant": float(find("p-mean").get_attribute("data-value")),
        "ci_lower": float(find("p-ci").get_attribute("data-lower")),
        "ci_upper": float(find("p-ci").get_attribute("data-upper")),
        "p_above_2pct": float(find("p-above").get_attribute("data-value")),
    }


def test_entered_lesion_shows_what_microcalc_predict_writes(browser, url, fit_path, tmp_path):
    browser.get(url)
    settled(browser)
    assert microcalc.DISCLAIMER.split(":")[0] in browser.find_element(By.ID, "disclaimer").text
    blank = displayed(browser)
    browser.find_element(By.CSS_SELECTOR, "input[value=fine_pleomorphic]").click()
    browser.find_element(By.CSS_SELECTOR, "input[value=amorphous]").click()
    Select(browser.find_element(By.ID, "f-distribution")).select_by_value("grouped")
    Select(browser.find_element(By.ID, "f-birads")).select_by_value("4B")
    browser.find_element(By.ID, "f-age").send_keys("62")
    Select(browser.find_element(By.ID, "f-family_history")).select_by_value("yes")
    settled(browser)
    shown = displayed(browser)
    cli = cli_prediction(
        fit_path,
        {
            "morphology": "fine_pleomorphic|amorphous",
            "distribution": "grouped",
            "birads": "4B",
            "age": "62",
            "family_history": "yes",
        },
        tmp_path,
    )
    for key in ("p_malignant", "ci_lower", "ci_upper", "p_above_2pct"):
        assert shown[key] == cli[key], key
    assert shown["mean"] == percent(cli["p_malignant"])
    assert shown["ci"] == interval(cli["ci_lower"], cli["ci_upper"])
    assert shown["p_malignant"] != blank["p_malignant"]  # the answer followed the form
    rows = browser.find_elements(By.CSS_SELECTOR, "#effects tbody tr")
    assert len(rows) == 5  # morphology, distribution, BI-RADS, age, family history
    assert "prior only" in browser.find_element(By.ID, "effects").text  # family history: literature prior alone
    assert "(main finding)" in browser.find_element(By.ID, "published").text
    assert browser.find_element(By.CSS_SELECTOR, "#plot svg rect.bar").is_displayed()


def test_population_selector_is_predict_site(browser, url, fit_path, tmp_path):
    browser.get(url)
    settled(browser)
    Select(browser.find_element(By.ID, "f-birads")).select_by_value("4")
    settled(browser)
    new_site = displayed(browser)
    site = microcalc.load(fit_path).sites[0]
    Select(browser.find_element(By.ID, "f-population")).select_by_value(f"site:{site}")
    settled(browser)
    shown = displayed(browser)
    cli = cli_prediction(fit_path, {"birads": "4"}, tmp_path, site=site)
    assert (shown["p_malignant"], shown["ci_lower"], shown["ci_upper"]) == (
        cli["p_malignant"],
        cli["ci_lower"],
        cli["ci_upper"],
    )
    assert shown["p_malignant"] != new_site["p_malignant"]


def test_bad_entry_shows_the_cli_message_and_no_numbers(browser, url):
    browser.get(url)
    settled(browser)
    browser.find_element(By.ID, "f-calc_count").send_keys("0")
    settled(browser, "error")
    assert "calcification count must be a whole number, 1 or more" in browser.find_element(By.ID, "message").text
    assert browser.find_element(By.ID, "p-mean").text == "–"
    browser.find_element(By.ID, "clear").click()
    settled(browser)
    assert browser.find_element(By.ID, "p-mean").text != "–"


def test_batch_upload_gives_the_predictions_file(browser, url, fit_path, tmp_path, downloads):
    lesions = tmp_path / "mine.csv"
    lesions.write_text("lesion_id,morphology,birads,age\na,fine_linear,4C,50\nb,rim,2,\nc,,3,70\n")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        predict_file(fit_path, lesions, tmp_path / "cli.csv")
    browser.get(url)
    browser.find_element(By.ID, "batch-file").send_keys(str(lesions))
    browser.find_element(By.ID, "batch-go").click()
    status = browser.find_element(By.ID, "batch-status")
    WebDriverWait(browser, WAIT).until(lambda d: status.get_attribute("data-state") in ("ready", "error"))
    link = browser.find_element(By.ID, "batch-download")
    assert link.get_attribute("download") == "mine_predictions.csv" and "3 lesions" in link.text
    downloaded = downloads / "mine_predictions.csv"  # the page clicks the link itself
    WebDriverWait(browser, WAIT).until(lambda d: downloaded.is_file() and downloaded.stat().st_size > 0)
    assert downloaded.read_bytes() == (tmp_path / "cli.csv").read_bytes()
