"""Drift monitoring: no drift on the same distribution, a shifted feature flagged, windows,
labels joined and evaluated, Parquet / SQLite / PostgreSQL logs, the CLI and its page, and
bad input (exit code 2, nothing written)."""

from __future__ import annotations

import json
import math
import shutil
import time

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy import stats
from typer.testing import CliRunner

from afterfit.bundle.drift import DriftThresholds, numeric_drift
from afterfit.bundle.reference import ReferenceStats
from afterfit.cli import app
from afterfit.errors import DataError, InvalidInputError
from afterfit.monitoring.core import monitor
from afterfit.monitoring.windows import MAX_WINDOWS, WindowSpec
from afterfit.report.monitor_folder import write_monitor_report

runner = CliRunner()
DAY = 86_400.0
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z
CLASSES = ["no", "yes"]


def _features(n: int, seed: int, *, shift: float = 0.0, city_p=(0.5, 0.3, 0.2)) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(6)})
    frame["x0"] = frame["x0"] + shift
    frame["visits"] = rng.poisson(3, n).astype(float)
    frame["city"] = rng.choice(["paris", "rome", "oslo"], n, p=list(city_p))
    return frame


def _proba(frame: pd.DataFrame) -> np.ndarray:
    z = frame["x0"].to_numpy() + 0.5 * (frame["city"] == "rome").to_numpy()
    return 1.0 / (1.0 + np.exp(-z))


@pytest.fixture(scope="module")
def reference() -> ReferenceStats:
    X = _features(20_000, 0)
    return ReferenceStats.from_frame(X, scores=_proba(X), classes=CLASSES)


def _log(
    n: int, seed: int, *, shift: float = 0.0, days: float = 1.0, start: float = T0
) -> pd.DataFrame:
    frame = _features(n, seed, shift=shift)
    p = _proba(frame)
    frame["ts"] = start + np.linspace(0, days * DAY, n, endpoint=False)
    frame["request_id"] = [f"req-{seed}-{i}" for i in range(n)]
    frame["proba_no"] = 1 - p
    frame["proba_yes"] = p
    frame["decision"] = np.where(p > 0.5, "yes", "no")
    return frame


def _run(ref: ReferenceStats, log, **kw):
    kw.setdefault("task", "binary")
    kw.setdefault("classes", CLASSES)
    return monitor(ref, log, **kw)


# -- drift or not -------------------------------------------------------------------------
def test_no_drift_on_a_sample_of_the_same_distribution(reference):
    result = _run(reference, _log(5_000, 1))
    assert len(result.features) == 8
    assert len(result.drifted) <= 1  # Holm at 0.01 and PSI 0.2: normally none
    assert all(c.psi < 0.05 for c in result.features)
    assert [c.name for c in result.predictions] == ["proba_yes"]  # the positive class only
    assert not result.predictions[0].drifted
    assert result.n_rows == 5_000


def test_small_logs_of_the_same_distribution_raise_no_false_alarm(reference):
    """40 logged rows: PSI with 10 bins is about 0.2 from noise alone, which flagged every
    log before the test was required as well. Now at most 5% of such logs flag anything,
    while a real shift of two standard deviations is still found in most of them."""
    false_alarms = found = 0
    runs = 40
    for seed in range(runs):
        clean = _run(reference, _log(40, 100 + seed), n_resamples=0)
        false_alarms += bool(clean.drifted or any(c.drifted for c in clean.predictions))
        shifted = _run(reference, _log(40, 500 + seed, shift=2.0), n_resamples=0)
        found += "x0" in shifted.drifted
    assert false_alarms <= 0.05 * runs, false_alarms
    assert found >= 0.9 * runs, found


def test_a_shifted_feature_is_flagged_and_comes_first(reference):
    log = _log(5_000, 2, shift=0.5)
    result = _run(reference, log)
    assert result.drifted[0] == "x0"
    assert "x0" in result.drifted and len(result.drifted) <= 2
    x0 = next(c for c in result.features if c.name == "x0")
    assert x0.psi > 0.2 and x0.p_value_holm < 1e-10
    # The KS statistic against scipy on the raw samples (the reference re-drawn).
    raw_ref = _features(20_000, 0)["x0"]
    oracle = stats.ks_2samp(raw_ref, log["x0"]).statistic
    assert abs(x0.ks - oracle) <= 2.0 / 1000
    assert result.frame()["feature"].iloc[0] == "x0"
    # The score moved with x0: prediction drift.
    assert result.predictions[0].drifted


def test_a_new_category_and_missing_values_are_flagged(reference):
    log = _log(4_000, 3)
    rng = np.random.default_rng(3)
    log["city"] = rng.choice(["paris", "rome", "oslo", "berlin"], len(log), p=[0.3, 0.3, 0.1, 0.3])
    log.loc[log.index[: len(log) // 5], "x3"] = np.nan
    result = _run(reference, log)
    by = {c.name: c for c in result.features}
    assert by["city"].drifted and by["city"].js > 0.1
    assert by["x3"].drifted and "missing rate" in by["x3"].reasons
    assert by["x3"].missing_current == pytest.approx(0.2)


def test_thresholds_change_the_flags(reference):
    log = _log(3_000, 4, shift=0.15)
    loose = _run(reference, log, thresholds=DriftThresholds(psi=0.01, p_value=0.05))
    strict = _run(reference, log, thresholds=DriftThresholds(psi=5.0, p_value=1e-300))
    assert "x0" in loose.drifted
    assert strict.drifted == []


# -- windows ------------------------------------------------------------------------------
def test_time_windows_find_the_day_that_drifted(reference):
    log = pd.concat(
        [
            _log(2_000, 5, start=T0),
            _log(2_000, 6, start=T0 + DAY),
            _log(2_000, 7, shift=0.8, start=T0 + 2 * DAY),
        ],
        ignore_index=True,
    )
    result = _run(reference, log, window="1d", batch_rows=1_500)
    assert [result.window_label(w) for w in result.windows] == [
        "2026-01-01",
        "2026-01-02",
        "2026-01-03",
    ]
    assert [w.n_rows for w in result.windows] == [2_000, 2_000, 2_000]
    flagged = [[c.name for c in w.features if c.drifted] for w in result.windows]
    assert "x0" not in flagged[0] and "x0" not in flagged[1]
    assert "x0" in flagged[2]
    # Per-window PSI is exact: the same as monitoring that day alone.
    alone = _run(reference, log.iloc[4_000:])
    day3 = {c.name: c for c in result.windows[2].features}
    for c in alone.features:
        assert day3[c.name].psi == pytest.approx(c.psi, rel=1e-12, abs=1e-15)
        if c.kind == "numeric":  # KS on the coarser per-window grid: within ~1/100
            assert abs(day3[c.name].ks - c.ks) <= 0.02
    # Shuffled rows give the same windows and counts.
    shuffled = _run(reference, log.sample(frac=1.0, random_state=0), window="1d", batch_rows=1_500)
    for a, b in zip(result.windows, shuffled.windows, strict=True):
        assert a.n_rows == b.n_rows
        assert [c.psi for c in a.features] == pytest.approx([c.psi for c in b.features])
    frame = result.windows_frame()
    assert set(frame["role"]) == {"feature", "prediction"}
    assert len(frame) == 3 * (8 + 1)


def test_row_windows(reference):
    result = _run(reference, _log(2_500, 8), window="1000rows", batch_rows=700)
    assert [w.n_rows for w in result.windows] == [1_000, 1_000, 500]
    assert result.window_label(result.windows[1]) == "rows 1,000-1,999"


def test_window_spec_parsing():
    assert WindowSpec.parse("1h").seconds == 3600
    assert WindowSpec.parse("15min").seconds == 900
    assert WindowSpec.parse("2d").seconds == 2 * DAY
    assert WindowSpec.parse("1000rows").rows == 1000
    for bad in ("", "h", "0h", "1 fortnight", "-1d"):
        with pytest.raises(InvalidInputError, match="window"):
            WindowSpec.parse(bad)


def test_too_many_windows_is_refused(reference):
    log = _log(MAX_WINDOWS + 10, 9)
    with pytest.raises(InvalidInputError, match="windows"):
        _run(reference, log, window="1rows")


# -- labels -------------------------------------------------------------------------------
def test_labels_are_joined_on_request_id_and_evaluated_per_window(reference):
    from afterfit.evaluation import evaluate_predictions

    log = pd.concat([_log(1_500, 10, start=T0), _log(1_500, 11, start=T0 + DAY)], ignore_index=True)
    rng = np.random.default_rng(10)
    truth = np.where(rng.random(len(log)) < log["proba_yes"], "yes", "no")
    labelled = rng.random(len(log)) < 0.4
    labels = pd.DataFrame({"request_id": log["request_id"][labelled], "label": truth[labelled]})
    labels = pd.concat([labels, pd.DataFrame({"request_id": ["nowhere"], "label": ["no"]})])
    result = _run(reference, log, window="1d", labels=labels, threshold=0.5, n_resamples=100)
    perf = result.performance
    assert perf is not None
    assert perf.n_labeled == int(labelled.sum())
    assert any("1 labels have no logged request" in n for n in perf.notes)
    oracle = evaluate_predictions(
        truth[labelled], log["proba_yes"][labelled], classes=CLASSES, ci="none"
    )
    for metric in ("accuracy", "roc_auc"):
        assert perf.overall.metrics[metric].value == pytest.approx(oracle.metrics[metric].value)
    assert [n for _w, _l, n, _e in perf.windows] == [
        int(labelled[:1_500].sum()),
        int(labelled[1_500:].sum()),
    ]
    frame = perf.frame()
    assert set(frame["window"]) == {"all", "2026-01-01", "2026-01-02"}
    auc = frame[(frame["metric"] == "roc_auc") & (frame["window"] == "all")].iloc[0]
    assert auc["ci_low"] < auc["value"] < auc["ci_high"]


def test_rows_of_batch_requests_are_labelled_by_their_position(reference):
    """The server logs every row of a batch request under one request_id: a labels table
    with a 'row' column (0 for the first row sent) labels each; without it, the labels
    refused "repeated request_id" and the log kept one row per request."""
    from afterfit.evaluation import evaluate_predictions

    log = _log(600, 21)
    log["request_id"] = [f"batch-{i // 10}" for i in range(len(log))]  # 60 requests of 10
    rng = np.random.default_rng(21)
    truth = np.where(rng.random(len(log)) < log["proba_yes"], "yes", "no")
    labels = pd.DataFrame(
        {"request_id": log["request_id"], "row": np.arange(len(log)) % 10, "label": truth}
    )
    perf = _run(reference, log, labels=labels, threshold=0.5, n_resamples=20).performance
    assert perf.n_labeled == len(log)
    oracle = evaluate_predictions(truth, log["proba_yes"], classes=CLASSES, ci="none")
    assert perf.overall.metrics["accuracy"].value == pytest.approx(oracle.metrics["accuracy"].value)
    with pytest.raises(DataError, match="add a 'row' column"):
        _run(reference, log, labels=labels.drop(columns="row"))
    one_each = labels.drop(columns="row").drop_duplicates("request_id", keep="last")
    perf = _run(reference, log, labels=one_each, threshold=0.5, n_resamples=20).performance
    assert perf.n_labeled == 60 and any("several rows" in n for n in perf.notes)


def test_labels_need_request_id_and_a_known_label_column(reference):
    log = _log(200, 12)
    with pytest.raises(DataError, match="request_id"):
        _run(reference, log, labels=pd.DataFrame({"id": ["a"], "label": ["no"]}))
    with pytest.raises(DataError, match="label-column"):
        _run(reference, log, labels=pd.DataFrame({"request_id": ["a"], "y": [1], "z": [2]}))
    with pytest.raises(DataError, match="None of the"):
        _run(reference, log, labels=pd.DataFrame({"request_id": ["zzz"], "label": ["no"]}))


# -- log formats --------------------------------------------------------------------------
def test_parquet_file_and_folder_give_the_same_result(reference, tmp_path):
    log = _log(3_000, 13, shift=0.3)
    in_memory = _run(reference, log, window="6h")
    log.to_parquet(tmp_path / "log.parquet", index=False)
    folder = tmp_path / "parts"
    folder.mkdir()
    log.iloc[:1_200].to_parquet(folder / "a.parquet", index=False)
    log.iloc[1_200:].to_parquet(folder / "b.parquet", index=False)
    for source in (tmp_path / "log.parquet", folder):
        result = _run(reference, str(source), window="6h", batch_rows=1_000)
        assert result.n_rows == 3_000
        assert [c.psi for c in result.features] == pytest.approx(
            [c.psi for c in in_memory.features], rel=1e-12
        )
        assert [w.n_rows for w in result.windows] == [w.n_rows for w in in_memory.windows]


def test_float32_parquet_and_time_filters(reference, tmp_path):
    log = _log(2_000, 14, days=2)
    table = pa.Table.from_pandas(log, preserve_index=False)
    cast = [
        pa.field(f.name, pa.float32()) if f.type == pa.float64() and f.name != "ts" else f
        for f in table.schema
    ]
    pq.write_table(table.cast(pa.schema(cast)), tmp_path / "f32.parquet")
    full = _run(reference, str(tmp_path / "f32.parquet"))
    exact = _run(reference, log)
    assert [c.psi for c in full.features] == pytest.approx(
        [c.psi for c in exact.features], abs=1e-3
    )
    day2 = _run(reference, str(tmp_path / "f32.parquet"), start=T0 + DAY)
    assert day2.n_rows == 1_000
    assert _run(reference, log, end=T0 + DAY).n_rows == 1_000


def test_a_log_without_features_or_rows_is_refused(reference, tmp_path):
    with pytest.raises(DataError, match="none of the reference"):
        _run(reference, pd.DataFrame({"ts": [T0], "other": [1.0]}))
    with pytest.raises(DataError, match="no rows"):
        _run(reference, _log(100, 15), start=T0 + 10 * DAY)
    with pytest.raises(DataError, match="does not exist"):
        _run(reference, str(tmp_path / "missing.parquet"))
    (tmp_path / "junk.parquet").write_text("not parquet")
    with pytest.raises(DataError, match="Parquet"):
        _run(reference, str(tmp_path / "junk.parquet"))


def test_absent_features_are_listed(reference):
    log = _log(1_000, 16).drop(columns=["x5"])
    result = _run(reference, log)
    assert result.absent == ("x5",)
    assert "x5" not in {c.name for c in result.features}


# -- bundle, SQLite / PostgreSQL logs and the CLI ------------------------------------------
@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory):
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from afterfit.bundle.core import build_bundle

    X = _features(3_000, 20)
    rng = np.random.default_rng(20)
    y = np.where(rng.random(len(X)) < _proba(X), "yes", "no")
    model = make_pipeline(
        make_column_transformer(
            (OneHotEncoder(handle_unknown="ignore"), ["city"]), remainder=StandardScaler()
        ),
        LogisticRegression(),
    ).fit(X, y)
    out = tmp_path_factory.mktemp("bundle") / "churn-1.0"
    build_bundle(model, X, y, out=out, name="churn", version="1.0", threshold=0.4)
    return out


def _bundle_log(bundle_dir, n: int, seed: int, *, shift: float = 0.0, days: float = 2.0):
    from afterfit.bundle.core import load_bundle

    bundle = load_bundle(bundle_dir)
    frame = _features(n, seed, shift=shift)
    preds = bundle.predict_frame(frame)
    frame["ts"] = T0 + np.linspace(0, days * DAY, n, endpoint=False)
    frame["request_id"] = [f"r{seed}-{i}" for i in range(n)]
    for j, c in enumerate(bundle.classes):
        frame[f"proba_{c}"] = preds.proba[:, j]
    frame["decision"] = preds.decision
    return frame


def _write_sql_log(url: str, frame: pd.DataFrame) -> None:
    from afterfit.serving.predlog import LogRow, PredictionLogWriter

    features = [c for c in frame.columns if c.startswith("x") or c in ("visits", "city")]
    outputs = ["proba_no", "proba_yes", "decision"]
    rows = [
        LogRow(
            float(r["ts"]),
            str(r["request_id"]),
            {c: r[c] for c in features},
            {c: r[c] for c in outputs},
            1.0,
        )
        for r in frame.to_dict("records")
    ]
    writer = PredictionLogWriter(url, model_name="churn", model_version="1.0").start()
    writer.submit(rows)
    assert writer.close()


def _cli(*args):
    return runner.invoke(app, ["monitor", *[str(a) for a in args]])


def test_cli_end_to_end_from_sqlite_with_labels(bundle_dir, tmp_path):
    log = _bundle_log(bundle_dir, 1_200, 21, shift=0.6)
    url = f"sqlite:///{tmp_path / 'preds.db'}"
    _write_sql_log(url, log)
    rng = np.random.default_rng(21)
    labels = pd.DataFrame(
        {
            "request_id": log["request_id"],
            "label": np.where(rng.random(len(log)) < log["proba_yes"], "yes", "no"),
        }
    ).iloc[::2]
    labels.to_parquet(tmp_path / "labels.parquet", index=False)
    out = tmp_path / "drift"
    labels_file = tmp_path / "labels.parquet"
    res = _cli(bundle_dir, "--log", url, "--out", out, "--window", "1d", "--labels", labels_file,
               "--psi-threshold", "0.2", "--p-value", "0.01")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "x0" in res.output and "drifted" in res.output
    doc = json.loads((out / "results.json").read_text())
    assert doc["schema"] == "afterfit.monitor"
    mon = doc["monitor"]
    assert mon["log"]["n_rows"] == 1_200
    assert mon["features"][0]["name"] == "x0" and mon["features"][0]["drifted"]
    assert mon["model"]["name"] == "churn" and mon["model"]["threshold"] == 0.4
    assert len(mon["windows"]) == 2
    assert mon["performance"]["n_labeled"] == 600
    for name in ("drift-features", "drift-windows", "drift-predictions", "performance"):
        assert (out / "tables" / f"{name}.csv").exists()
    html = (out / "index.html").read_text()
    for text in ("Drift", "Prediction drift", "Performance over time", "drift-over-time-feature",
                 "drift-hist-x0", "PSI per feature"):  # fmt: skip
        assert text in html
    features = pd.read_csv(out / "tables" / "drift-features.csv")
    assert features["feature"].iloc[0] == "x0"


def test_cli_end_to_end_from_parquet(bundle_dir, tmp_path):
    log = _bundle_log(bundle_dir, 2_000, 22)
    log.to_parquet(tmp_path / "preds.parquet", index=False)
    out = tmp_path / "drift"
    res = _cli(bundle_dir, "--log", tmp_path / "preds.parquet", "--out", out, "-q")
    assert res.exit_code == 0, res.output
    assert res.output.strip() == ""
    mon = json.loads((out / "results.json").read_text())["monitor"]
    assert mon["summary"]["n_drifted"] <= 1
    assert mon["predictions"][0]["name"] == "proba_yes"
    assert mon["window"] is None and mon["windows"] == []
    assert "Holm" in mon["summary"]["multiple_testing"]


def test_postgresql_log(bundle_dir, postgres_url, tmp_path):
    from afterfit.monitoring.core import monitor_bundle

    log = _bundle_log(bundle_dir, 300, 23, shift=1.0)
    _write_sql_log(postgres_url, log)
    result = monitor_bundle(bundle_dir, postgres_url, window="1d", model_version="1.0")
    assert result.n_rows >= 300
    assert "x0" in result.drifted


def _tamper(bundle_dir, tmp_path):
    copy = tmp_path / "tampered"
    shutil.copytree(bundle_dir, copy)
    ref = json.loads((copy / "reference.json").read_text())
    ref["n_rows"] += 1
    (copy / "reference.json").write_text(json.dumps(ref))
    return copy


def test_cli_bad_input_exits_2_and_writes_nothing(bundle_dir, tmp_path):
    log = _bundle_log(bundle_dir, 300, 24)
    log.to_parquet(tmp_path / "preds.parquet", index=False)
    good = tmp_path / "preds.parquet"
    empty_url = f"sqlite:///{tmp_path / 'empty.db'}"
    from afterfit.serving.predlog import connect_log

    engine, _ = connect_log(empty_url)
    engine.dispose()
    log.drop(columns="request_id").to_parquet(tmp_path / "noid.parquet", index=False)
    pd.DataFrame({"id": ["a"], "label": ["no"]}).to_parquet(tmp_path / "bad_labels.parquet")
    pd.DataFrame({"request_id": ["r24-0"], "label": ["no"]}).to_parquet(tmp_path / "labels.parquet")
    cases = {
        "tampered bundle": (_tamper(bundle_dir, tmp_path), "--log", good),
        "missing sqlite": (bundle_dir, "--log", f"sqlite:///{tmp_path / 'nope.db'}"),
        "unreachable postgres": (
            bundle_dir,
            "--log",
            "postgresql+psycopg://postgres@127.0.0.1:1/afterfit?connect_timeout=2",
        ),
        "empty log": (bundle_dir, "--log", empty_url),
        "missing parquet": (bundle_dir, "--log", tmp_path / "missing.parquet"),
        "labels without request_id": (
            bundle_dir,
            "--log",
            good,
            "--labels",
            tmp_path / "bad_labels.parquet",
        ),
        "log without request_id": (
            bundle_dir,
            "--log",
            tmp_path / "noid.parquet",
            "--labels",
            tmp_path / "labels.parquet",
        ),
        "bad window": (bundle_dir, "--log", good, "--window", "fortnight"),
        "bad threshold": (bundle_dir, "--log", good, "--p-value", "3"),
    }
    for name, args in cases.items():
        out = tmp_path / f"out-{name.replace(' ', '_')}"
        start = time.perf_counter()
        res = _cli(*args, "--out", out)
        assert res.exit_code == 2, (name, res.output)
        assert "error" in res.output and "Traceback" not in res.output, (name, res.output)
        assert not out.exists(), name
        assert time.perf_counter() - start < 20, name
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.startswith(".out-")]
    assert leftovers == []


def test_write_monitor_report_keeps_the_old_folder_on_failure(reference, tmp_path, monkeypatch):
    result = _run(reference, _log(500, 25), window="1d")
    out = tmp_path / "drift"
    written = write_monitor_report(result, out)
    assert "index.html" in written and "results.json" in written
    before = (out / "results.json").read_text()

    import afterfit.report.sections.drift as sections

    def boom(_result):
        raise InvalidInputError("boom")

    monkeypatch.setattr(sections, "drift_sections", boom)
    with pytest.raises(InvalidInputError):
        write_monitor_report(result, out)
    assert (out / "results.json").read_text() == before


def test_overall_ks_uses_every_sketch_point(reference):
    # The whole-log KS goes through the full sketch: the same as numeric_drift on
    # counts taken directly.
    log = _log(3_000, 26, shift=0.2)
    result = _run(reference, log)
    x0 = reference.features["x0"]
    counts, missing = x0.sketch_counts(log["x0"].to_numpy())
    direct = numeric_drift(x0, np.cumsum(counts[:-1]), int(counts.sum()), missing)
    got = next(c for c in result.features if c.name == "x0")
    assert got.ks == pytest.approx(direct.ks, abs=1e-12)
    assert got.psi == pytest.approx(direct.psi, abs=1e-12)
    assert math.isfinite(got.p_value)


# -- other tasks ----------------------------------------------------------------------------
def test_regression_log_with_labels(tmp_path):
    rng = np.random.default_rng(30)
    X = pd.DataFrame({"a": rng.normal(size=5_000), "b": rng.normal(size=5_000)})
    ref = ReferenceStats.from_frame(X, scores=X["a"].to_numpy() * 2)
    assert list(ref.predictions) == ["score"]
    log = pd.DataFrame({"a": rng.normal(0.5, 1, 2_000), "b": rng.normal(size=2_000)})
    log["prediction"] = log["a"] * 2
    log["ts"] = T0 + np.arange(2_000) * 60.0
    log["request_id"] = [f"q{i}" for i in range(2_000)]
    labels = pd.DataFrame({"request_id": log["request_id"], "y": log["prediction"] + 0.1})
    result = monitor(ref, log, task="regression", window="1d", labels=labels, n_resamples=50)
    assert [c.name for c in result.predictions] == ["prediction"]
    assert result.predictions[0].drifted and "a" in result.drifted and "b" not in result.drifted
    perf = result.performance.frame()
    mae = perf[(perf["metric"] == "mae") & (perf["window"] == "all")]["value"].iloc[0]
    assert mae == pytest.approx(0.1)
    write_monitor_report(result, tmp_path / "drift")
    html = (tmp_path / "drift" / "index.html").read_text()
    assert "drift-hist-prediction" in html and "mae" in html


def test_multiclass_log_with_labels():
    rng = np.random.default_rng(31)
    classes = [0, 1, 2]
    X = pd.DataFrame({"a": rng.normal(size=3_000)})
    proba = rng.dirichlet([1, 1, 1], 3_000)
    ref = ReferenceStats.from_frame(X, scores=proba, classes=classes)
    assert list(ref.predictions) == ["proba_0", "proba_1", "proba_2"]
    log = pd.DataFrame({"a": rng.normal(size=1_000)})
    cur = rng.dirichlet([1, 1, 1], 1_000)
    for j in classes:
        log[f"proba_{j}"] = cur[:, j]
    log["request_id"] = [f"m{i}" for i in range(1_000)]
    # Labels read from a CSV are text: "0", "1", "2" name the classes 0, 1, 2.
    labels = pd.DataFrame({"request_id": log["request_id"], "label": cur.argmax(1).astype(str)})
    result = monitor(ref, log, task="multiclass", classes=classes, labels=labels, n_resamples=50)
    assert len(result.predictions) == 3 and result.drifted == []
    assert result.performance.overall.metrics["accuracy"].value == 1.0


def test_drift_score_takes_pandas_categories(reference):
    frame = _features(500, 32)
    frame["city"] = frame["city"].astype("category")
    plain = _features(500, 32)
    assert reference.drift_score(frame) == pytest.approx(reference.drift_score(plain))
