"""afterfit's CBPE against NannyML's CBPE (the oracle), on the same windows.

NannyML is not a dependency of afterfit and is not installed into the project's venv (it
pins other versions of the stack); put it in a venv of its own and name its Python::

    python3 -m venv /tmp/nml && /tmp/nml/bin/pip install nannyml statsmodels
    .venv/bin/python benchmarks/cbpe_nannyml.py --nannyml-python /tmp/nml/bin/python

Data: a reference of 20,000 rows and 10 analysis windows of 2,000 rows under growing
covariate shift, with the true ``P(y | x)`` as the (calibrated) probability; decisions at
0.5. NannyML fits on the reference with a no-op calibrator (the probabilities are already
calibrated; left to itself, NannyML 0.13 decides they "need calibration" and fits an
isotonic map on the reference, whose steps move its estimates by up to ~0.01) and
estimates per chunk of 2,000 rows; afterfit estimates each window with
:func:`afterfit.monitoring.cbpe.estimate_performance`. Printed: per metric, the largest
difference between the two estimates and between the realised values, and how often each
one's interval covers the realised metric (afterfit: the 95% interval of the realised
metric; NannyML: its band of 3 sampling errors around the estimate, so wider).
``--nannyml-calibration`` restores NannyML's own calibration step.

NannyML 0.13.1 imports statsmodels without declaring it: install both
(``pip install nannyml statsmodels``).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

METRICS = ("roc_auc", "f1", "precision", "recall", "accuracy")
CHUNK = 2000

_NANNYML = """
import json, sys
import pandas as pd
import nannyml as nml
from nannyml.calibration import NoopCalibrator
ref = pd.read_csv(sys.argv[1]); ana = pd.read_csv(sys.argv[2])
est = nml.CBPE(y_pred_proba="p", y_pred="pred", y_true="y",
               problem_type="classification_binary", metrics=%r, chunk_size=%d,
               calibrator=None if %r else NoopCalibrator())
est.fit(ref)
df = est.estimate(ana).filter(period="analysis").to_df()
out = {}
for m in %r:
    out[m] = {k: df[(m, k)].tolist() for k in ("value", "realized", "lower_confidence_boundary",
                                               "upper_confidence_boundary")
              if (m, k) in df.columns}
print(json.dumps({"version": nml.__version__, "metrics": out,
                  "calibrated": bool(est.needs_calibration) and %r}))
"""


def _data(rng: np.random.Generator, n: int, shift: float) -> pd.DataFrame:
    x = rng.normal(shift, 1.0, n)
    p = 1.0 / (1.0 + np.exp(-(1.4 * x - 0.3)))
    y = (rng.random(n) < p).astype(int)
    return pd.DataFrame({"x": x, "p": p, "pred": (p >= 0.5).astype(int), "y": y})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nannyml-python", required=True)
    parser.add_argument("--windows", type=int, default=10)
    parser.add_argument(
        "--nannyml-calibration",
        action="store_true",
        help="let NannyML fit its isotonic calibration on the reference (its default)",
    )
    args = parser.parse_args(argv)
    from afterfit.monitoring.cbpe import estimate_performance

    rng = np.random.default_rng(0)
    ref = _data(rng, 20_000, 0.0)
    windows = [_data(rng, CHUNK, -0.8 + 1.6 * w / max(args.windows - 1, 1))
               for w in range(args.windows)]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        ref.to_csv(Path(tmp) / "ref.csv", index=False)
        pd.concat(windows, ignore_index=True).to_csv(Path(tmp) / "ana.csv", index=False)
        calibrate = bool(args.nannyml_calibration)
        code = _NANNYML % (list(METRICS), CHUNK, calibrate, list(METRICS), calibrate)
        done = subprocess.run(
            [args.nannyml_python, "-c", code, str(Path(tmp) / "ref.csv"),
             str(Path(tmp) / "ana.csv")],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
    if done.returncode != 0:
        print(done.stderr[-3000:], file=sys.stderr)
        return 1
    nml = json.loads(done.stdout.strip().splitlines()[-1])
    ours = [estimate_performance(w["p"], w["pred"], classes=[0, 1], y_true=w["y"],
                                 random_state=i) for i, w in enumerate(windows)]  # fmt: skip
    print(f"NannyML {nml['version']} CBPE vs afterfit CBPE, {args.windows} windows of {CHUNK}; "
          f"NannyML's isotonic calibration {'on' if nml['calibrated'] else 'off'}")  # fmt: skip
    for m in METRICS:
        theirs = nml["metrics"][m]
        est_a = np.array([o.estimated[m] for o in ours])
        est_n = np.array(theirs["value"][: args.windows])
        real_a = np.array([o.realised[m] for o in ours])
        real_n = np.array(theirs.get("realized", [np.nan] * args.windows)[: args.windows])
        cov_a = np.mean([o.covered(m) for o in ours])
        lo = np.array(theirs.get("lower_confidence_boundary", [np.nan] * args.windows))
        hi = np.array(theirs.get("upper_confidence_boundary", [np.nan] * args.windows))
        cov_n = np.mean((lo[: args.windows] <= real_a) & (real_a <= hi[: args.windows]))
        print(f"  {m:9s} estimate |afterfit - nannyml| max {np.nanmax(np.abs(est_a - est_n)):.4f}"
              f"  realised max diff {np.nanmax(np.abs(real_a - real_n)):.2g}"
              f"  covered: afterfit {cov_a:.0%}, nannyml {cov_n:.0%}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
