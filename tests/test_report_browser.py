"""The report page in a real browser: Debian's Chromium, driven by Playwright, offline.

Each page is opened from disk with every non-``file:`` request aborted, and must show no
console error, draw every figure its sections declare (with data in it), show its tables,
keep its text and tables readable with JavaScript off, and leave a full-page screenshot in
the test's folder (and in ``$AFTERFIT_TEST_OUTPUT`` when that is set, e.g. by CI to keep it
as an artifact).

Playwright's own browser is never downloaded: the tests launch ``/usr/bin/chromium``
(``apt-get install -y chromium``; ``make test`` installs it). Without it they skip, except
in CI, where they fail.
"""

from __future__ import annotations

import importlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer, load_diabetes, load_wine
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from afterfit.data import load_dataset
from afterfit.report.run import RunOptions, run_report, write_report
from afterfit.report.steps import STEP_NAMES

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Steps the page tests ask for; those whose section module does not exist yet are left out.
WANTED_STEPS = ("evaluation", "thresholds", "calibration", "comparison", "slices")
#: The Slices section's slicings, per task (feature columns of the datasets below).
SLICES = {
    "binary": ("mean radius:quantiles=3",),
    "multiclass": ("alcohol:quantiles=2",),
    "regression": ("sex", "age:quantiles=2"),
}
#: How long the page may take to unpack plotly.js and draw every figure (CI machines are slow).
DRAW_TIMEOUT_MS = 30_000
LOCAL_SCHEMES = ("file:", "data:", "blob:")


def _available_steps() -> tuple[str, ...]:
    steps = []
    for name in WANTED_STEPS:
        if name not in STEP_NAMES:
            continue
        try:
            importlib.import_module(f"afterfit.report.sections.{name}")
        except ImportError:
            continue
        steps.append(name)
    return tuple(steps)


# --------------------------------------------------------------------------- the browser
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    missing = None
    if shutil.which(CHROMIUM) is None:
        missing = f"Chromium is not at {CHROMIUM}; install it with: apt-get install -y chromium"
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = "playwright is not installed; install it with: pip install -e '.[test]'"
    if missing is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(missing)
        pytest.skip(missing)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            browser.close()


# --------------------------------------------------------------------------- the reports
@dataclass(frozen=True)
class Built:
    task: str
    folder: Path
    figures: tuple[str, ...]
    tables: tuple[str, ...]
    headline: tuple[str, ...]


def _frame(data: Any) -> pd.DataFrame:
    frame = pd.DataFrame(data.data, columns=[str(c) for c in data.feature_names])
    frame["target"] = data.target
    return frame


def _build(task: str, folder: Path) -> Built:
    if task == "binary":
        frame = _frame(load_breast_cancer())
        model: Any = HistGradientBoostingClassifier(max_iter=50, random_state=0)
        others: dict[str, Any] = {
            "logistic": make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        }
    elif task == "multiclass":
        frame = _frame(load_wine())
        model = HistGradientBoostingClassifier(max_iter=30, random_state=0)
        others = {}
    else:
        frame = _frame(load_diabetes())
        model = HistGradientBoostingRegressor(max_iter=50, random_state=0)
        others = {}
    train, test = train_test_split(frame, test_size=0.4, random_state=0)
    features = [c for c in frame.columns if c != "target"]
    model.fit(train[features], train["target"])
    for other in others.values():
        other.fit(train[features], train["target"])
    options = RunOptions(steps=_available_steps(), n_resamples=100, seed=0, slices=SLICES[task])
    report = run_report(
        model, load_dataset(test, target="target"), options=options, others=others or None
    )
    write_report(report, folder, title=f"afterfit browser test ({task})", figures=False)
    return Built(
        task=task,
        folder=folder,
        figures=tuple(f.id for s in report.sections for f in s.figures()),
        tables=tuple(t.id for s in report.sections for t in s.tables()),
        headline=tuple(h.name for s in report.sections for h in s.headline),
    )


@pytest.fixture(scope="module")
def reports(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Built]:
    # Asks for the browser first: without one the tests skip before building anything.
    root = tmp_path_factory.mktemp("reports")
    return {task: _build(task, root / task) for task in ("binary", "multiclass", "regression")}


class Watched:
    """A fresh context and page that aborts network requests and records every error."""

    def __init__(self, browser: Any, *, javascript: bool = True) -> None:
        self.context = browser.new_context(
            java_script_enabled=javascript,
            viewport={"width": 1280, "height": 900},
            service_workers="block",
        )
        self.blocked: list[str] = []
        self.errors: list[str] = []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        self.page.on("requestfailed", self._failed)

    def _route(self, route: Any) -> None:
        url = route.request.url
        if url.startswith(LOCAL_SCHEMES):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def _console(self, msg: Any) -> None:
        if msg.type == "error":
            self.errors.append(f"console error: {msg.text} ({msg.location})")

    def _failed(self, request: Any) -> None:
        if request.url.startswith(LOCAL_SCHEMES):
            self.errors.append(f"request failed: {request.url} ({request.failure})")

    def open(self, path: Path) -> Any:
        self.page.goto(path.resolve().as_uri(), wait_until="load")
        return self.page

    def check_clean(self) -> None:
        assert not self.blocked, f"the page tried to reach the network: {self.blocked}"
        assert not self.errors, "\n".join(self.errors)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def watched(browser: Any) -> Iterator[Any]:
    made: list[Watched] = []

    def make(*, javascript: bool = True) -> Watched:
        w = Watched(browser, javascript=javascript)
        made.append(w)
        return w

    yield make
    for w in made:
        w.close()


@pytest.fixture(scope="module")
def drawn(browser: Any, reports: dict[str, Built]) -> Iterator[Any]:
    """``drawn(task)``: the task's page, opened once with JavaScript and fully drawn; the
    tests that look at the drawn page share it (each load unpacks plotly.js again)."""
    opened: dict[str, Watched] = {}

    def get(task: str) -> Watched:
        if task not in opened:
            w = Watched(browser)
            opened[task] = w
            _wait_drawn(w.open(reports[task].folder / "index.html"))
        return opened[task]

    yield get
    for w in opened.values():
        w.close()


def _wait_drawn(page: Any) -> None:
    page.wait_for_function(
        "() => ['done', 'failed'].includes(document.body.getAttribute('data-figures'))",
        timeout=DRAW_TIMEOUT_MS,
    )
    state = page.evaluate("() => document.body.getAttribute('data-figures')")
    failed = page.evaluate(
        "() => Array.from(document.querySelectorAll('.plot-error')).map(e => e.textContent)"
    )
    assert state == "done", f"figures not drawn: data-figures={state!r}; {failed}"


FIGURE_STATE = """
(id) => {
  const el = document.querySelector(`.plot[data-figure="${id}"]`);
  if (!el) return {found: false};
  const data = Array.isArray(el.data) ? el.data : [];
  const box = el.getBoundingClientRect();
  return {
    found: true,
    rendered: el.getAttribute('data-rendered') === 'true',
    traces: data.length,
    xy: data.some(t => (t.x && t.x.length && t.y && t.y.length) || (t.z && t.z.length)
                   || (t.type === 'histogram' && t.x && t.x.length)),
    svg: el.querySelectorAll('svg.main-svg').length,
    width: box.width,
    height: box.height,
  };
}
"""


def _save_screenshot(page: Any, name: str, tmp_path: Path) -> Path:
    shot = tmp_path / f"{name}.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000, f"screenshot {shot} is suspiciously small"
    out = os.environ.get("AFTERFIT_TEST_OUTPUT")
    if out:
        Path(out).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, Path(out) / shot.name)
    return shot


# --------------------------------------------------------------------------- the tests
TASKS = ("binary", "multiclass", "regression")


@pytest.mark.parametrize("task", TASKS)
def test_page_draws_every_figure_offline(
    task: str, reports: dict[str, Built], drawn: Any, tmp_path: Path
) -> None:
    built = reports[task]
    assert built.figures, f"the {task} report declares no figure"
    if "slices" in _available_steps():
        assert "slices-forest" in built.figures, f"the {task} report has no Slices section"
    w = drawn(task)
    page = w.page
    for fid in built.figures:
        page.wait_for_function(
            '(id) => document.querySelector(`.plot[data-figure="${id}"]`)'
            "?.getAttribute('data-rendered') === 'true'",
            arg=fid,
            timeout=5_000,
        )
    problems = []
    for fid in built.figures:
        s = page.evaluate(FIGURE_STATE, fid)
        if not s["found"]:
            problems.append(f"{fid}: no .plot element on the page")
        elif not (s["rendered"] and s["traces"] and s["xy"] and s["svg"]):
            problems.append(f"{fid}: {s}")
        elif s["width"] < 200 or s["height"] < 150:
            problems.append(f"{fid}: drawn too small ({s['width']}x{s['height']} px)")
    assert not problems, "figures not drawn with data:\n" + "\n".join(problems)
    # No figure on the page that the sections do not declare, and none left undrawn.
    on_page = page.evaluate(
        "() => Array.from(document.querySelectorAll('.plot[data-figure]'))"
        ".map(e => e.getAttribute('data-figure'))"
    )
    assert sorted(on_page) == sorted(built.figures)
    for tid in built.tables:
        table = page.locator(f"[id='{tid}'] table")
        assert table.is_visible(), f"table {tid} is not visible"
        assert table.locator("tbody tr").count() > 0, f"table {tid} has no rows"
    # The summary's headline metrics are on the page.
    summary = page.locator("#summary").inner_text()
    for name in built.headline:
        assert name in summary
    shot = _save_screenshot(page, f"report-{task}", tmp_path)
    assert shot.exists()
    w.check_clean()


@pytest.mark.parametrize("task", TASKS)
def test_text_and_tables_readable_without_javascript(
    task: str, reports: dict[str, Built], watched: Any
) -> None:
    built = reports[task]
    w = watched(javascript=False)
    page = w.open(built.folder / "index.html")
    text = page.locator("body").inner_text()
    assert "Summary" in text
    assert task in page.locator("#summary .facts").inner_text()
    for name in built.headline:
        assert name in text
    metrics = page.locator("[id='evaluation-metrics'] table")
    assert metrics.is_visible()
    assert metrics.locator("tbody tr").count() >= len(built.headline)
    for tid in built.tables:
        assert page.locator(f"[id='{tid}'] table").is_visible()
    # Figures say they need JavaScript instead of leaving blank space.
    assert text.count("This figure needs JavaScript") == len(built.figures)
    assert page.evaluate("() => document.body.getAttribute('data-figures')") is None
    w.check_clean()


@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_confusion_matrix_normalised_button(
    task: str, reports: dict[str, Built], drawn: Any
) -> None:
    fid = "evaluation-confusion-matrix"
    assert fid in reports[task].figures
    w = drawn(task)
    page = w.page
    plot = page.locator(f".plot[data-figure='{fid}']")
    plot.scroll_into_view_if_needed()

    def shown() -> dict[str, Any]:
        return page.evaluate(
            """(id) => {
              const el = document.querySelector(`.plot[data-figure="${id}"]`);
              const labels = Array.from(el.querySelectorAll('.heatmaplayer text'))
                .map(t => t.textContent);
              return {visible: el.data.map(t => t.visible), labels};
            }""",
            fid,
        )

    before = shown()
    assert before["visible"] == [True, False]
    assert before["labels"] and all("." not in t for t in before["labels"]), before
    plot.locator(".updatemenu-button", has_text="normalised by true class").click()
    page.wait_for_function(
        '(id) => document.querySelector(`.plot[data-figure="${id}"]`).data[1].visible === true',
        arg=fid,
        timeout=5_000,
    )
    after = shown()
    assert after["visible"] == [False, True]
    # Row shares: every label is a number in [0, 1] with two decimals.
    assert after["labels"] and after["labels"] != before["labels"]
    assert all(0 <= float(t) <= 1 and "." in t for t in after["labels"]), after
    plot.locator(".updatemenu-button", has_text="counts").click()
    page.wait_for_function(
        '(id) => document.querySelector(`.plot[data-figure="${id}"]`).data[0].visible === true',
        arg=fid,
        timeout=5_000,
    )
    assert shown()["labels"] == before["labels"]
    w.check_clean()
