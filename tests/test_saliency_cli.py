"""`afterfit saliency` end to end, and safe loading of .pt files (issue 6).

The network is a small untrained DigitsCNN (seeded): the command's plumbing does not need
a trained model, and that keeps these tests fast. Files: a TorchScript file, a state dict
(bare and inside a checkpoint dict), a whole pickled module, PNG images in class folders
and an .npz.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("captum")

from typer.testing import CliRunner  # noqa: E402

from afterfit.cli import app  # noqa: E402
from afterfit.errors import (  # noqa: E402
    InvalidInputError,
    ModelLoadError,
    UntrustedModelError,
)
from afterfit.saliency.example import DigitsCNN  # noqa: E402
from afterfit.saliency.loading import load_torch_module  # noqa: E402

runner = CliRunner()
CLASS = "afterfit.saliency.example:DigitsCNN"
FAST = ["--steps", "4", "--samples", "2", "--faithfulness-steps", "4", "--sanity-images", "2"]


def run(*args):
    return runner.invoke(app, ["saliency", *[str(a) for a in args]], catch_exceptions=False)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from PIL import Image

    d = tmp_path_factory.mktemp("saliency")
    torch.manual_seed(0)
    net = DigitsCNN(channels=4).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript is deprecated
        torch.jit.save(torch.jit.script(net), str(d / "cnn.pt"))
    torch.save(net.state_dict(), d / "state.pt")
    torch.save({"epoch": 3, "model_state_dict": net.state_dict()}, d / "checkpoint.pt")
    torch.save(net, d / "whole.pt")
    torch.save([1, 2, 3], d / "list.pt")
    (d / "notes.pt").write_text("these are not weights")
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (6, 8, 8), dtype=np.uint8)
    for i, a in enumerate(pixels):
        (d / "images" / str(i % 3)).mkdir(parents=True, exist_ok=True)
        Image.fromarray(a).save(d / "images" / str(i % 3) / f"{i}.png")
    np.savez(d / "images.npz", images=pixels.astype(np.float32) / 255, labels=np.arange(6) % 3)
    (d / "empty").mkdir()
    return {"dir": d, "net": net, "pixels": pixels}


# --- loading ----------------------------------------------------------------------------


def _same_outputs(a, b):
    x = torch.rand(3, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(a(x), b(x))


def test_load_torchscript(files):
    module = load_torch_module(files["dir"] / "cnn.pt")
    assert isinstance(module, torch.jit.ScriptModule) and not module.training
    _same_outputs(module, files["net"])


def test_load_state_dict_with_module_class(files):
    d = files["dir"]
    module = load_torch_module(d / "state.pt", module_class=CLASS, module_kwargs='{"channels": 4}')
    assert type(module) is DigitsCNN and not module.training
    _same_outputs(module, files["net"])
    from_checkpoint = load_torch_module(
        d / "checkpoint.pt", module_class=DigitsCNN, module_kwargs={"channels": 4}
    )
    _same_outputs(from_checkpoint, files["net"])


def test_load_errors(files):
    d = files["dir"]
    with pytest.raises(ModelLoadError, match=r"is a state dict .*--module-class"):
        load_torch_module(d / "state.pt")
    with pytest.raises(ModelLoadError, match=r"does not fit DigitsCNN\(channels=8\)"):
        load_torch_module(d / "state.pt", module_class=CLASS, module_kwargs={"channels": 8})
    with pytest.raises(ModelLoadError, match="cannot be imported"):
        load_torch_module(d / "state.pt", module_class="no_such_package.nets:Net")
    with pytest.raises(ModelLoadError, match="has no attribute 'Nope'"):
        load_torch_module(d / "state.pt", module_class="afterfit.saliency.example:Nope")
    with pytest.raises(ModelLoadError, match=r"not a torch\.nn\.Module"):
        load_torch_module(d / "state.pt", module_class="afterfit.saliency.images:Preprocess")
    with pytest.raises(InvalidInputError, match=r"package\.module:Class"):
        load_torch_module(d / "state.pt", module_class="afterfit.saliency.example.DigitsCNN")
    with pytest.raises(InvalidInputError, match="not valid JSON"):
        load_torch_module(d / "state.pt", module_class=CLASS, module_kwargs="{channels: 4}")
    with pytest.raises(ModelLoadError, match="cannot be built with"):
        load_torch_module(d / "state.pt", module_class=CLASS, module_kwargs={"width": 4})
    with pytest.raises(ModelLoadError, match="not a PyTorch model"):
        load_torch_module(d / "notes.pt")
    with pytest.raises(ModelLoadError, match="holds a list, neither a module nor a state dict"):
        load_torch_module(d / "list.pt")
    with pytest.raises(ModelLoadError, match="a module class is only for state dicts"):
        load_torch_module(d / "cnn.pt", module_class=CLASS)
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_torch_module(d / "missing.pt")


def test_pickled_module_needs_trust(files):
    with pytest.raises(UntrustedModelError, match=r"pickled Python objects.*--trust"):
        load_torch_module(files["dir"] / "whole.pt")
    module = load_torch_module(files["dir"] / "whole.pt", trust=True)
    _same_outputs(module, files["net"])


# --- the command ----------------------------------------------------------------------------


def test_cli_torchscript_end_to_end(files, tmp_path):
    d = files["dir"]
    out = tmp_path / "sal"
    result = run("--model", d / "cnn.pt", "--images", d / "images", "--out", out, *FAST)
    assert result.exit_code == 0, result.output
    # Grad-CAM needs hooks, which TorchScript lacks: left out of the defaults, with a warning.
    assert "Grad-CAM is left out" in result.output
    assert "Wrote" in result.output and "random order" in result.output
    doc = json.loads((out / "saliency.json").read_text())
    assert doc["schema"] == "afterfit.saliency" and doc["schema_version"]
    assert doc["source"]["model"].endswith("cnn.pt")
    s = doc["saliency"]
    assert s["methods"] == ["gradients", "integrated_gradients", "smoothgrad"]
    assert s["n_images"] == 6 and s["settings"]["n_steps"] == 4
    assert [r["name"] for r in s["images"]][:2] == ["0/0.png", "0/3.png"]
    assert s["faithfulness"]["n_images"] == 6 and s["sanity"]["n_images"] == 2
    for name in ("images", "faithfulness", "faithfulness_curves", "sanity", "sanity_summary"):
        assert (out / "tables" / f"{name}.csv").stat().st_size > 0
    for name in (
        "overview",
        "maps_gradients",
        "maps_integrated_gradients",
        "maps_smoothgrad",
        "faithfulness",
        "sanity",
        "sanity_maps",
    ):
        assert (out / "figures" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    with np.load(out / "maps.npz") as maps:
        assert maps["smoothgrad"].shape == (6, 8, 8)
        assert maps["names"].tolist()[0] == "0/0.png"
    assert not list(out.rglob("*.tmp"))  # atomic writes leave no temporary files


def test_cli_state_dict_with_module_class(files, tmp_path):
    d = files["dir"]
    out = tmp_path / "sal"
    result = run(
        "--model",
        d / "state.pt",
        "--module-class",
        CLASS,
        "--module-kwargs",
        '{"channels": 4}',
        "--images",
        d / "images.npz",
        "--out",
        out,
        "--methods",
        "gradcam,ig",
        "--targets",
        "labels",
        "--no-sanity",
        "--no-figures",
        "--quiet",
        *FAST,
    )
    assert result.exit_code == 0, result.output
    assert result.output == ""
    s = json.loads((out / "saliency.json").read_text())["saliency"]
    assert s["methods"] == ["gradcam", "integrated_gradients"]
    assert s["settings"]["gradcam_layer"] == "conv2" and s["settings"]["targets"] == "labels"
    assert [r["target"] for r in s["images"]] == [0, 1, 2, 0, 1, 2]
    assert s["sanity"] is None and not (out / "figures").exists()


def test_cli_preprocessing_options(files, tmp_path):
    d = files["dir"]
    result = run(
        "--model",
        d / "cnn.pt",
        "--images",
        d / "images",
        "--out",
        tmp_path / "o",
        "--methods",
        "gradients",
        "--resize",
        "8x8",
        "--mean",
        "0.5",
        "--std",
        "0.25",
        "--channels",
        "1",
        "--no-faithfulness",
        "--no-sanity",
        "--no-figures",
    )
    assert result.exit_code == 0, result.output
    s = json.loads((tmp_path / "o" / "saliency.json").read_text())["saliency"]
    assert s["settings"]["images"]["preprocess"] == {
        "size": [8, 8],
        "mean": [0.5],
        "std": [0.25],
        "channels": 1,
        "scale": "auto",
    }


STATE = ["--module-class", CLASS, "--module-kwargs", '{"channels": 4}']


@pytest.mark.parametrize(
    ("model", "images", "extra", "message"),
    [
        ("notes.pt", "images", [], "not a PyTorch model"),
        ("state.pt", "images", [], "is a state dict"),
        ("whole.pt", "images", [], "--trust"),
        ("cnn.pt", "images", ["--resize", "16x16"], "fails on images of shape (1, 16, 16)"),
        ("cnn.pt", "images", ["--channels", "3"], "3 channels but the model's first"),
        ("cnn.pt", "images", ["--targets", "12"], "out of range: 12"),
        (
            "state.pt",
            "images",
            [*STATE, "--methods", "gradcam", "--layer", "conv9"],
            "'conv9' is not in the model",
        ),
        ("cnn.pt", "empty", [], "holds no images"),
        ("cnn.pt", "images", ["--methods", "integrated_gradient"], "did you mean"),
        ("cnn.pt", "images", ["--methods", "gradcam"], "TorchScript"),
        ("cnn.pt", "images", ["--resize", "big"], "--resize must be HEIGHTxWIDTH"),
        ("cnn.pt", "images", ["--mean", "0.5,x", "--std", "1"], "--mean must be numbers"),
    ],
)
def test_cli_errors_exit_2_without_traceback(files, tmp_path, model, images, extra, message):
    d = files["dir"]
    out = tmp_path / "o"
    result = run(
        "--model",
        d / model,
        "--images",
        d / images,
        "--out",
        out,
        *extra,
        "--no-sanity",
        "--no-faithfulness",
        *FAST,
    )
    assert result.exit_code == 2, result.output
    text = " ".join(result.output.split())
    assert "error:" in text and message in text
    assert "Traceback" not in result.output
    assert not (out / "saliency.json").exists()


def test_cli_help_lists_the_command():
    result = runner.invoke(app, ["--help"])
    assert "saliency" in result.output


def test_cli_trust_loads_a_pickled_module(files, tmp_path):
    d = files["dir"]
    result = run(
        "--model",
        d / "whole.pt",
        "--trust",
        "--images",
        d / "images",
        "--out",
        tmp_path / "o",
        "--methods",
        "gradcam",
        "--no-sanity",
        "--no-figures",
        "--quiet",
        *FAST,
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "o" / "saliency.json").exists()
