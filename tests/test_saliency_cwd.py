"""Saliency, the same lesson (issue 14, item 7): ``--module-class nets:Net`` imports from
the working directory, as its error message promises, and ``afterfit run --images`` with a
TorchScript model leaves Grad-CAM out of the default methods with a note, as
``afterfit saliency`` does, instead of losing the whole Saliency section."""

from __future__ import annotations

import sys
import warnings

import pytest

torch = pytest.importorskip("torch")

from afterfit.errors import ModelLoadError  # noqa: E402
from afterfit.report.steps import _saliency_methods  # noqa: E402
from afterfit.saliency.example import DigitsCNN  # noqa: E402
from afterfit.saliency.loading import load_torch_module  # noqa: E402

DEFAULT = ("gradients", "integrated_gradients", "smoothgrad", "gradcam")


@pytest.fixture
def folder(tmp_path, monkeypatch):
    """A user's folder with nets.py and a state dict; the folder is the working directory
    and, as under the ``afterfit`` script, not on the import path."""
    (tmp_path / "nets_issue14.py").write_text(
        "from afterfit.saliency.example import DigitsCNN\n\n\nclass Net(DigitsCNN):\n    pass\n"
    )
    torch.manual_seed(0)
    net = DigitsCNN(channels=4).eval()
    torch.save(net.state_dict(), tmp_path / "state.pt")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    monkeypatch.delitem(sys.modules, "nets_issue14", raising=False)
    return tmp_path, net


def test_module_class_imports_from_the_working_directory(folder) -> None:
    path, net = folder
    module = load_torch_module(
        path / "state.pt", module_class="nets_issue14:Net", module_kwargs={"channels": 4}
    )
    assert type(module).__name__ == "Net"
    x = torch.rand(2, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(module(x), net(x))
    # the folder goes last: an installed package of the same name would win
    assert sys.path[-1] == str(path)


def test_module_class_still_names_a_missing_module(folder) -> None:
    path, _ = folder
    with pytest.raises(ModelLoadError, match="cannot be imported"):
        load_torch_module(path / "state.pt", module_class="no_such_nets:Net")
    assert str(path) not in sys.path  # a failed look leaves the path as it was


def test_run_leaves_gradcam_out_for_torchscript_with_a_note() -> None:
    net = DigitsCNN(channels=4).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.script(net)
    methods, note = _saliency_methods(scripted, DEFAULT)
    assert methods == DEFAULT[:3]
    assert note is not None and "Grad-CAM is left out" in note
    # a Python module keeps Grad-CAM; methods the user chose are kept as chosen
    assert _saliency_methods(net, DEFAULT) == (DEFAULT, None)
    chosen = ("gradients", "gradcam")
    assert _saliency_methods(scripted, chosen) == (chosen, None)
