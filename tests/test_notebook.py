"""examples/quickstart.ipynb runs top to bottom in a real Jupyter kernel (nbclient +
ipykernel), and its results display as HTML with their headline numbers and a figure.

The kernel is this interpreter, through a kernelspec written to a temporary folder: no
``ipykernel install`` step, no user-wide Jupyter configuration, the same on a fresh CI
machine as on a laptop. The connection file and IPython's profile stay in that folder too.
"""

from __future__ import annotations

import base64
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parent.parent / "examples" / "quickstart.ipynb"
#: Per cell; no cell should come near it.
TIMEOUT_S = 240
#: The whole notebook, kernel start included: about 5 s on a quiet 2-core machine, 16 s on
#: a loaded one. A quickstart that takes minutes has lost its point.
BUDGET_S = 120
KERNEL = "afterfit-test"


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, float]:
    """The notebook after running it, and how long it took."""
    folder = tmp_path_factory.mktemp("kernels")
    spec = folder / KERNEL
    spec.mkdir()
    (spec / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "afterfit tests",
                "language": "python",
                # IPython's profile and history go to the scratch folder, not the home
                "env": {"IPYTHONDIR": str(folder / "ipython")},
            }
        )
    )
    manager = KernelManager(
        kernel_name=KERNEL,
        kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(folder)]),
        connection_file=str(folder / "connection.json"),
    )
    nb = nbformat.read(NOTEBOOK, as_version=4)
    # The notebook writes nothing, but run it in a scratch folder all the same.
    work = tmp_path_factory.mktemp("notebook")
    client = NotebookClient(
        nb, km=manager, timeout=TIMEOUT_S, resources={"metadata": {"path": str(work)}}
    )
    start = time.perf_counter()
    client.execute()
    return nb, time.perf_counter() - start


def _outputs(nb: Any) -> list[dict[str, Any]]:
    return [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]


def _html(nb: Any) -> list[str]:
    return [o["data"]["text/html"] for o in _outputs(nb) if "text/html" in o.get("data", {})]


def test_every_cell_ran_without_error(executed):
    nb, seconds = executed
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.execution_count is not None for c in code)
    errors = [o for o in _outputs(nb) if o["output_type"] == "error"]
    assert not errors, [f"{e['ename']}: {e['evalue']}" for e in errors]
    # no warning text or traceback printed to stderr either
    stderr = [o["text"] for o in _outputs(nb) if o.get("name") == "stderr"]
    assert not any("Traceback" in text for text in stderr), stderr
    assert seconds < BUDGET_S


def test_results_display_as_html_with_their_headline(executed):
    nb, _ = executed
    pages = [h for h in _html(nb) if "afterfit-result" in h]
    kinds = {re.search(r"<h3>(\w+)", h).group(1) for h in pages}
    assert {"Evaluation", "ThresholdSelection", "CalibrationReport", "Comparison"} <= kinds
    assert "Explanations" in kinds
    evaluation = next(h for h in pages if "<h3>Evaluation" in h)
    # the headline metric with its interval, as the evaluation computed it
    match = re.search(r"<td>roc_auc</td><td class=num>([0-9.]+)</td><td>\[([0-9.]+), ", evaluation)
    assert match, evaluation[:2000]
    value, low = float(match.group(1)), float(match.group(2))
    assert 0.9 < value <= 1.0 and low < value


def test_results_carry_an_inline_figure(executed):
    nb, _ = executed
    pages = [h for h in _html(nb) if "afterfit-result" in h]
    for page in pages:
        found = re.search(r"data:image/png;base64,([A-Za-z0-9+/=]+)", page)
        assert found, page[:500]
        assert base64.b64decode(found.group(1)).startswith(b"\x89PNG\r\n\x1a\n")
    # a figure returned by .plot() shows as a PNG output of its own
    images = [o for o in _outputs(nb) if "image/png" in o.get("data", {})]
    assert images


def test_plain_repr_is_one_line(executed):
    nb, _ = executed
    printed = [o["text"] for o in _outputs(nb) if o.get("name") == "stdout"]
    line = next(t for t in printed if t.startswith("Evaluation("))
    assert line.count("\n") == 1 and "roc_auc" in line and "rows" in line
