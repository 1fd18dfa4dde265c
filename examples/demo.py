"""The demo behind `make demo`: train small models on bundled datasets and report on them.

1. A gradient-boosting classifier on scikit-learn's breast-cancer data (shipped with
   scikit-learn, no download), saved as a safe .skops file with its splits as Parquet;
   ``afterfit run`` writes its report to ``report/``.
2. The same model's next steps: ``afterfit cv`` cross-validates it on the training rows
   (corrected intervals, ``cv/``), ``afterfit bundle`` turns it into a verified deployment
   bundle (ONNX with a parity check, input schema, threshold, drift reference, model card,
   manifest; ``bundle/breast-cancer-1.0/``) and ``afterfit predict`` scores the test rows
   from the bundle in chunks (``demo-data/predictions.parquet``).
   ``afterfit check`` then gates the report as a CI pipeline would: one rule that holds
   (ROC AUC's lower interval end above 0.9) and one that fails (precision at the operating
   threshold judged on its lower end, not its estimate), with JUnit XML and a Markdown
   summary in ``demo-data/``; the demo shows both verdicts and goes on.
3. A small convolutional network on scikit-learn's 8x8 digits images, saved as a state
   dict (loaded without unpickling code); ``afterfit run --images`` writes its report, with
   saliency maps and their faithfulness and sanity checks, to ``report-digits/``.

Both run the real command line.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import skops.io as sio
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.model_selection import train_test_split

ROOT = Path(__file__).resolve().parent.parent
DATA = Path("demo-data")
REPORT = Path("report")
DIGITS_REPORT = Path("report-digits")
CV = Path("cv")
BUNDLE = Path("bundle/breast-cancer-1.0")


def afterfit(args: list[str]) -> int:
    print("$ afterfit " + shlex.join(args), flush=True)
    return subprocess.call([sys.executable, "-m", "afterfit.cli", *args], cwd=ROOT)


def tabular() -> int:
    frame = load_breast_cancer(as_frame=True).frame
    train, test = train_test_split(frame, test_size=0.4, random_state=0, stratify=frame.target)
    train, valid = train_test_split(train, test_size=0.25, random_state=0, stratify=train.target)
    model = HistGradientBoostingClassifier(max_iter=100, random_state=0)
    model.fit(train.drop(columns="target"), train["target"])
    (ROOT / DATA).mkdir(exist_ok=True)
    sio.dump(model, ROOT / DATA / "model.skops")
    test.to_parquet(ROOT / DATA / "test.parquet", index=False)
    train.to_parquet(ROOT / DATA / "train.parquet", index=False)
    valid.to_parquet(ROOT / DATA / "valid.parquet", index=False)
    print(
        f"Trained {type(model).__name__} on {len(train)} rows; the threshold is chosen on "
        f"{len(valid)} validation rows and the report is on {len(test)} test rows."
    )
    # skops refuses types outside its default allow-list; we wrote this file ourselves, so
    # we name exactly the types it holds instead of trusting everything (--trust).
    trusted = sio.get_untrusted_types(file=ROOT / DATA / "model.skops")
    args = ["run", "--model", str(DATA / "model.skops"), "--data", str(DATA / "test.parquet"),
            "--train", str(DATA / "train.parquet"), "--valid", str(DATA / "valid.parquet"),
            "--target", "target", "--out", str(REPORT)]  # fmt: skip
    for name in trusted:
        args += ["--trusted-type", name]
    return afterfit(args)


def gate() -> int:
    """The quality gate on the demo report: exit 1 (a rule fails) is the expected outcome."""
    # --overwrite here and for predict below: a rerun of the demo replaces its own files.
    args = ["check", "--results", str(REPORT / "results.json"),
            "--rule", "roc_auc >= 0.9", "--rule", "thresholds.precision >= 0.99",
            "--junit", str(DATA / "gate.xml"), "--markdown", str(DATA / "gate.md"),
            "--overwrite"]  # fmt: skip
    code = afterfit(args)
    if code == 1:
        print(
            "The gate failed on purpose: precision at the operating threshold is judged on "
            "its interval's lower end. In CI that exit code 1 stops the pipeline; the demo "
            "goes on."
        )
        return 0
    return code or 1  # both rules holding would mean the demo no longer shows a failure


def deployment() -> int:
    """Cross-validate the demo model, bundle it for serving and predict from the bundle."""
    model = str(DATA / "model.skops")
    trusted = [a for name in sio.get_untrusted_types(file=ROOT / DATA / "model.skops")
               for a in ("--trusted-type", name)]  # fmt: skip
    steps = [
        ["cv", "--model", model, "--data", str(DATA / "train.parquet"), "--target", "target",
         "--folds", "5", "--repeats", "2", "--out", str(CV), *trusted],
        ["bundle", "--model", model, "--data", str(DATA / "train.parquet"),
         "--target", "target", "--eval-data", str(DATA / "test.parquet"),
         "--report", str(REPORT), "--out", str(BUNDLE), "--overwrite", *trusted],
        ["predict", str(BUNDLE), str(DATA / "test.parquet"), "--drop", "target",
         "--out", str(DATA / "predictions.parquet"), "--overwrite"],
    ]  # fmt: skip
    for args in steps:
        code = afterfit(args)
        if code:
            return code
    print(f"Serve it with: afterfit serve {BUNDLE} --port 8000 --log sqlite:///preds.db")
    return 0


def images() -> int:
    from afterfit.saliency.example import write_digits_example

    files = write_digits_example(ROOT / DATA / "digits")
    print("Trained a small CNN on the digits images; reporting on the held-out images.")
    args = ["run", "--model", str(files["state_dict"].relative_to(ROOT)),
            "--module-class", "afterfit.saliency.example:DigitsCNN",
            "--images", str(files["images"].relative_to(ROOT)),
            "--out", str(DIGITS_REPORT)]  # fmt: skip
    return afterfit(args)


def main() -> int:
    code = tabular() or gate() or deployment() or images()
    if code == 0:
        for report in (REPORT, CV, DIGITS_REPORT):
            print(f"Open {(ROOT / report / 'index.html').as_uri()} in a browser (works offline).")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
