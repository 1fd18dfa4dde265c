"""The demo behind `make demo`: train a small model on a bundled dataset and report on it.

Trains a gradient-boosting classifier on scikit-learn's breast-cancer data (shipped with
scikit-learn, no download), saves it as a safe .skops file and the splits as Parquet, then
runs the real command line: ``afterfit run``, which writes the report to ``report/``.
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


def main() -> int:
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
    print("$ afterfit " + shlex.join(args), flush=True)
    code = subprocess.call([sys.executable, "-m", "afterfit.cli", *args], cwd=ROOT)
    if code == 0:
        print(f"Open {(ROOT / REPORT / 'index.html').as_uri()} in a browser (works offline).")
    return code


if __name__ == "__main__":
    raise SystemExit(main())
