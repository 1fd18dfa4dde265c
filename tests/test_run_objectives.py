"""Issue 15 item 2: every threshold objective from every entry point; steps named in
--steps that cannot run are exit 2; every "pass --X" hint names an option that exists."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
import typer
from sklearn.datasets import make_classification
from sklearn.linear_model import LinearRegression, LogisticRegression
from typer.testing import CliRunner

import afterfit
from afterfit.cli import app
from afterfit.errors import InvalidInputError
from afterfit.report.run import RunOptions, run_report
from afterfit.thresholds import make_objective, select_threshold_predictions

runner = CliRunner()
SRC = Path(afterfit.__file__).parent


def cli(*args: object):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("obj")
    X, y = make_classification(n_samples=500, n_features=5, weights=[0.8], random_state=0)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(5)]).assign(y=y)
    sio.dump(LogisticRegression().fit(frame.iloc[:250, :5], y[:250]), d / "model.skops")
    frame.iloc[250:].to_parquet(d / "test.parquet", index=False)
    X3, y3 = make_classification(n_samples=450, n_features=5, n_informative=4,
                                 n_redundant=0, n_classes=3, random_state=1)  # fmt: skip
    f3 = pd.DataFrame(X3, columns=[f"x{i}" for i in range(5)]).assign(y=y3)
    sio.dump(LogisticRegression().fit(X3[:200], y3[:200]), d / "multi.skops")
    f3.iloc[200:].to_parquet(d / "multi.parquet", index=False)
    reg = frame.assign(y=frame["x0"] * 2.0)
    sio.dump(LinearRegression().fit(reg.iloc[:250, :5], reg["y"][:250]), d / "reg.skops")
    reg.iloc[250:].to_parquet(d / "reg.parquet", index=False)
    return {"dir": d, "model": d / "model.skops", "test": d / "test.parquet",
            "multi": d / "multi.skops", "multi_data": d / "multi.parquet",
            "reg": d / "reg.skops", "reg_data": d / "reg.parquet"}  # fmt: skip


def _run(files, out, *args):
    base = ("run", "--model", files["model"], "--data", files["test"], "--target", "y")
    return cli(*base, "--steps", "evaluation,thresholds", "--n-resamples", 0, "--out", out, *args)


def _oracle(files, **kw):
    frame = pd.read_parquet(files["test"])
    model = sio.load(files["model"], trusted=sio.get_untrusted_types(file=files["model"]))
    s = model.predict_proba(frame.drop(columns="y"))[:, 1]
    return select_threshold_predictions(frame["y"], s, n_resamples=0, split="test", **kw)


@pytest.mark.parametrize(
    ("args", "kw"),
    [
        (["--threshold-objective", "cost", "--fp-cost", 1, "--fn-cost", 7],
         {"objective": "cost", "fp_cost": 1, "fn_cost": 7}),
        (["--threshold-objective", "cost", "--fp-cost", 1, "--fn-cost", 2, "--tp-gain", 3],
         {"objective": "cost", "fp_cost": 1, "fn_cost": 2, "tp_gain": 3}),
        (["--threshold-objective", "precision-at", "--min-precision", 0.6],
         {"objective": "recall_at_precision", "min_precision": 0.6}),
        (["--threshold-objective", "recall-at", "--min-recall", 0.9],
         {"objective": "precision_at_recall", "min_recall": 0.9}),
        (["--threshold-objective", "positive-rate", "--positive-rate", 0.1],
         {"objective": "positive_rate", "positive_rate": 0.1}),
        (["--threshold-objective", "top-k", "--top-k", 20], {"objective": "top_k", "top_k": 20}),
        (["--threshold-objective", "fbeta", "--beta", 2], {"objective": "fbeta", "beta": 2}),
    ],
)  # fmt: skip
def test_run_takes_every_objective_parameter(files, tmp_path, args, kw):
    res = _run(files, tmp_path / "r", *args)
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "r" / "results.json").read_text())
    expected = _oracle(files, **kw)
    assert doc["thresholds"]["threshold"] == pytest.approx(expected.threshold)
    assert doc["thresholds"]["objective"] == expected.objective.name
    assert doc["thresholds"]["parameters"] == json.loads(json.dumps(expected.objective.params()))


def test_config_file_takes_objective_parameters(files, tmp_path):
    config = tmp_path / "afterfit.toml"
    config.write_text('threshold_objective = "cost"\nfp-cost = 1\nfn_cost = 9\n', encoding="utf-8")
    res = _run(files, tmp_path / "r", "--config", config)
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "r" / "results.json").read_text())
    expected = _oracle(files, objective="cost", fp_cost=1, fn_cost=9)
    assert doc["thresholds"]["threshold"] == pytest.approx(expected.threshold)
    assert doc["thresholds"]["parameters"]["costs"]["fn_cost"] == 9


def test_python_api_takes_objective_parameters(files):
    from afterfit.data import load_dataset

    test = load_dataset(files["test"], target="y")
    model = sio.load(files["model"], trusted=sio.get_untrusted_types(file=files["model"]))
    opts = RunOptions(steps=("evaluation", "thresholds"), n_resamples=0,
                      threshold_objective="precision_at", min_precision=0.7)  # fmt: skip
    report = run_report(model, test, options=opts)
    expected = _oracle(files, objective="recall_at_precision", min_precision=0.7)
    assert report.doc["thresholds"]["threshold"] == pytest.approx(expected.threshold)


@pytest.mark.parametrize(
    ("kw", "needle"),
    [
        ({"threshold_objective": "precision_at"}, "min_precision"),
        ({"threshold_objective": "f1", "min_recall": 0.5}, "min_recall"),
        ({"threshold_objective": "cost", "fp_cost": -1, "fn_cost": 1}, "fp_cost"),
        ({"threshold_objective": "nonsense"}, "nonsense"),
    ],
)
def test_bad_objective_parameters_fail_before_any_work(kw, needle):
    with pytest.raises(InvalidInputError, match=needle):
        RunOptions(steps=("evaluation", "thresholds"), **kw)


def test_bad_objective_parameter_on_the_cli_is_exit_2(files, tmp_path):
    res = _run(files, tmp_path / "r", "--threshold-objective", "precision-at")
    assert res.exit_code == 2
    assert "min-precision" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "r" / "results.json").exists()


def test_multiclass_cost_matrix_file_in_run(files, tmp_path):
    matrix = tmp_path / "costs.csv"
    matrix.write_text("0,1,4\n1,0,4\n2,2,0\n", encoding="utf-8")
    res = cli("run", "--model", files["multi"], "--data", files["multi_data"], "--target", "y",
              "--steps", "evaluation,thresholds", "--n-resamples", 0,
              "--threshold-objective", "cost", "--cost-matrix", matrix,
              "--out", tmp_path / "r")  # fmt: skip
    assert res.exit_code == 0, res.output
    doc = json.loads((tmp_path / "r" / "results.json").read_text())
    assert doc["thresholds"]["kind"] == "multiclass_cost"
    assert doc["thresholds"]["cost_matrix"] == [[0, 1, 4], [1, 0, 4], [2, 2, 0]]
    # the same matrix from the config file, as a TOML array
    config = tmp_path / "c.toml"
    config.write_text("cost_matrix = [[0, 1, 4], [1, 0, 4], [2, 2, 0]]\n", encoding="utf-8")
    res = cli("run", "--model", files["multi"], "--data", files["multi_data"], "--target", "y",
              "--steps", "evaluation,thresholds", "--n-resamples", 0, "--config", config,
              "--threshold-objective", "cost", "--out", tmp_path / "r2")  # fmt: skip
    assert res.exit_code == 0, res.output
    doc2 = json.loads((tmp_path / "r2" / "results.json").read_text())
    assert doc2["thresholds"]["metrics"] == doc["thresholds"]["metrics"]


def test_cost_matrix_file_formats(tmp_path):
    from afterfit.cli.threshold import read_cost_matrix

    (tmp_path / "m.json").write_text("[[0, 1], [5, 0]]")
    (tmp_path / "m.toml").write_text("cost_matrix = [[0, 1], [5, 0]]")
    (tmp_path / "m.csv").write_text("0,1\n5,0\n")
    for name in ("m.json", "m.toml", "m.csv"):
        assert read_cost_matrix(str(tmp_path / name)) == [[0, 1], [5, 0]]
    assert read_cost_matrix("0,1;5,0") == [[0, 1], [5, 0]]
    with pytest.raises(InvalidInputError, match="does not exist"):
        read_cost_matrix(str(tmp_path / "missing.csv"))
    (tmp_path / "bad.json").write_text('{"a": 1}')
    with pytest.raises(InvalidInputError, match="no list of rows"):
        read_cost_matrix(str(tmp_path / "bad.json"))


@pytest.mark.parametrize(
    ("model", "data", "steps", "needle"),
    [
        ("model", "test", "evaluation,comparison", "--compare"),
        ("model", "test", "evaluation,slices", "--slice"),
        ("reg", "reg_data", "evaluation,thresholds", "binary"),
        ("reg", "reg_data", "evaluation,calibration", "regression"),
        ("model", "test", "evaluation,saliency", "image"),
        ("model", "test", "evaluation,training", "nothing to show"),
    ],
)
def test_named_step_that_cannot_run_is_exit_2(files, tmp_path, model, data, steps, needle):
    res = cli("run", "--model", files[model], "--data", files[data], "--target", "y",
              "--steps", steps, "--n-resamples", 0, "--out", tmp_path / "r")  # fmt: skip
    assert res.exit_code == 2, res.output
    assert "cannot run" in res.output and needle in res.output
    assert "Traceback" not in res.output


def test_default_steps_still_skip_quietly(files, tmp_path):
    res = cli("run", "--model", files["reg"], "--data", files["reg_data"], "--target", "y",
              "--n-resamples", 0, "--no-learning-curve", "--explain-methods", "permutation",
              "--out", tmp_path / "r")  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "not run: thresholds" in res.output


# --- every "pass --X" hint names an option of the command that prints it --------------

HINT = re.compile(
    r"(?:pass|add|use|with|give|try|CLI)\s+(?:`afterfit [a-z-]+ )?--([a-z][a-z0-9-]*)"
)
#: Modules whose hints only one or a few commands can print (the rest: at least one command).
OWNERS = {
    "report/": ("run",),
    "thresholds/": ("threshold", "run"),
    "cli/_inputs.py": ("evaluate", "threshold"),
    "gate/": ("check",),
    "selection/cv_files.py": ("threshold", "evaluate"),
}


def _options() -> dict[str, set[str]]:
    group = typer.main.get_command(app)
    out = {}
    for name, command in group.commands.items():
        flags: set[str] = set()
        for p in command.params:
            flags.update(o for o in (*p.opts, *p.secondary_opts) if o.startswith("--"))
        out[name] = flags
    return out


def _owners(path: Path, commands: dict[str, set[str]]) -> tuple[str, ...] | None:
    rel = path.relative_to(SRC).as_posix()
    for prefix, owners in OWNERS.items():
        if rel.startswith(prefix):
            return owners
    if rel.startswith("cli/") and not rel.startswith("cli/_"):
        text = path.read_text(encoding="utf-8")
        names = re.findall(r"@app\.command\((?:\"([a-z-]+)\")?\)\s*\ndef ([a-z_]+)", text)
        found = tuple(n or f.replace("_", "-") for n, f in names)
        return tuple(c for c in found if c in commands) or None
    return None


def test_every_pass_hint_names_an_option_the_command_accepts():
    commands = _options()
    checked, missing = 0, []
    for path in sorted(SRC.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        owners = _owners(path, commands)
        for match in HINT.finditer(text):
            option = f"--{match.group(1)}"
            checked += 1
            # A hint that names its command ("run afterfit calibrate with --save-model")
            # is checked against that command.
            # (in the same clause: no comma or full stop between the two)
            before = text[max(0, match.start() - 60) : match.start()]
            named = re.findall(r"afterfit ([a-z-]+)[^,;.]*$", before)
            named = [c for c in named if c in commands]
            who = (named[-1],) if named else owners
            where = f"{path.relative_to(SRC)}:{text.count(chr(10), 0, match.start()) + 1}"
            if who is None:
                if not any(option in flags for flags in commands.values()):
                    missing.append(f"{where}: {option} (no command has it)")
                continue
            missing += [f"{where}: afterfit {c} lacks {option}" for c in who
                        if option not in commands[c]]  # fmt: skip
    assert checked > 50
    assert not missing, "\n".join(missing)


def test_objective_parameter_hints_exist_on_threshold_and_run():
    # make_objective builds "CLI --{param}" hints from its parameter names at run time.
    params = [p for p in inspect.signature(make_objective).parameters if p != "objective"]
    commands = _options()
    for p in params:
        for command in ("threshold", "run"):
            assert f"--{p.replace('_', '-')}" in commands[command], (command, p)


def test_hint_of_a_missing_parameter_is_accepted_by_run(files, tmp_path):
    res = _run(files, tmp_path / "r", "--threshold-objective", "cost", "--fp-cost", 1)
    if res.exit_code == 2:  # the message asks for the other cost: run must take it
        flag = re.search(r"--([a-z-]+) \d", res.output)
        assert flag and f"--{flag.group(1)}" in _options()["run"]
    else:
        assert res.exit_code == 0, res.output


def test_checked_hints_include_the_newcomer_case():
    text = (SRC / "thresholds" / "_core.py").read_text(encoding="utf-8")
    assert "CLI --" in text
    assert np.all([f"--{p}" in _options()["run"] for p in ("fp-cost", "fn-cost")])
