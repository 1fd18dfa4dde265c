"""Saliency maps (issue 6): methods against Captum, batching, the patch task, faithfulness,
the sanity check, images and preprocessing, results and the report section.

Fast settings throughout (8x8 and 10x10 images, few IG steps and noise samples); the
digits CNN trains once per module in about two seconds.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
captum_attr = pytest.importorskip("captum.attr")

from torch import nn  # noqa: E402

from afterfit.errors import (  # noqa: E402
    DataError,
    InvalidInputError,
    ModelError,
    SchemaError,
)
from afterfit.saliency import (  # noqa: E402
    ImageSet,
    Preprocess,
    SaliencyMaps,
    compute_saliency,
    load_images,
    train_digits_cnn,
)
from afterfit.saliency.example import DigitsCNN  # noqa: E402
from afterfit.saliency.faithfulness import faithfulness, pixel_ranks  # noqa: E402
from afterfit.saliency.methods import (  # noqa: E402
    GRADIENT_METHODS,
    METHODS,
    MethodSettings,
    attribute,
    canonical_methods,
    find_layer,
    predict_logits,
)
from afterfit.saliency.results import RANDOM, SanityCheck  # noqa: E402
from afterfit.saliency.sanity import (  # noqa: E402
    cascade_layers,
    rank_correlation,
    sanity_check,
    ssim,
)

FAST = {"n_steps": 8, "nt_samples": 4, "faithfulness_steps": 8, "sanity_images": 4}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # Two shared cores: one torch thread keeps timings stable and the results identical.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def digits():
    module, X_test, y_test = train_digits_cnn(random_state=0)
    return module, X_test, y_test


class GapCNN(nn.Module):
    """Two convolutions and global average pooling: Grad-CAM's home ground."""

    def __init__(self, channels: int = 8) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.fc = nn.Linear(channels, 2)

    def forward(self, x):
        x = torch.relu(self.conv2(torch.relu(self.conv1(x))))
        return self.fc(x.mean(dim=(2, 3)))


# The patch task: 10x10 uniform noise; class 1 exactly when the 3x3 patch at rows 2-4,
# columns 5-7 is brighter by 1. Nothing else tells the classes apart.
SIDE, ROWS, COLS = 10, slice(2, 5), slice(5, 8)
PATCH = np.zeros((SIDE, SIDE), dtype=bool)
PATCH[ROWS, COLS] = True
#: Share of an image's top-9 pixels (as many as the patch has) that must fall in the patch,
#: on average over the class-1 test images. Chance is 9/100; observed 0.8-1.0.
PATCH_SHARE = 0.6


def _patch_data(seed: int = 0, n: int = 400):
    rng = np.random.default_rng(seed)
    X = rng.uniform(0, 1, (n, 1, SIDE, SIDE)).astype(np.float32)
    y = rng.integers(0, 2, n)
    X[y == 1, :, ROWS, COLS] += 1.0
    return X, y


def _train(net, X, y, *, epochs: int, weight_decay: float = 0.0, seed: int = 0):
    torch.manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2, weight_decay=weight_decay)
    xs, ys = torch.from_numpy(X), torch.from_numpy(y)
    g = torch.Generator().manual_seed(seed)
    net.train()
    for _ in range(epochs):
        order = torch.randperm(len(xs), generator=g)
        for s in range(0, len(xs), 40):
            i = order[s : s + 40]
            opt.zero_grad()
            nn.functional.cross_entropy(net(xs[i]), ys[i]).backward()
            opt.step()
    return net.eval()


def _share_in_patch(maps: np.ndarray) -> float:
    flat = np.abs(maps).reshape(len(maps), -1)
    top = np.argsort(-flat, axis=1, kind="stable")[:, : PATCH.sum()]
    return float(PATCH.ravel()[top].mean())


# --- the example network ---------------------------------------------------------------


def test_digits_cnn_reaches_95_percent(digits):
    module, X_test, y_test = digits
    with torch.no_grad():
        accuracy = (module(torch.from_numpy(X_test)).argmax(1).numpy() == y_test).mean()
    assert accuracy >= 0.95
    assert X_test.shape == (450, 1, 8, 8) and X_test.dtype == np.float32
    assert 0.0 <= X_test.min() and X_test.max() <= 1.0


def test_import_afterfit_does_not_import_torch():
    code = (
        "import sys, afterfit, afterfit.saliency, afterfit.report.sections.saliency\n"
        "print(sorted(m for m in ('torch', 'captum') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- the methods ------------------------------------------------------------------------


def test_pixel_methods_find_the_patch():
    X, y = _patch_data()
    net = _train(
        DigitsCNN(channels=4, n_classes=2, size=SIDE),
        X[:320],
        y[:320],
        epochs=12,
        weight_decay=1e-3,
    )
    test = X[320:][y[320:] == 1]
    result = compute_saliency(
        net,
        test,
        targets=1,
        methods=(*GRADIENT_METHODS, "occlusion"),
        faithfulness=False,
        sanity=False,
        **{k: FAST[k] for k in ("n_steps", "nt_samples")},
    )
    assert (result.predicted == 1).mean() > 0.9
    for method in result.methods:
        share = _share_in_patch(result.maps[method])
        assert share >= PATCH_SHARE, (method, share)


def test_gradcam_finds_the_patch():
    X, y = _patch_data(seed=1)
    net = _train(GapCNN(), X[:320], y[:320], epochs=10, seed=1)
    test = X[320:][y[320:] == 1]
    result = compute_saliency(
        net, test, targets=1, methods="gradcam", faithfulness=False, sanity=False
    )
    assert result.settings["gradcam_layer"] == "conv2"
    assert _share_in_patch(result.maps["gradcam"]) >= PATCH_SHARE


def test_integrated_gradients_equals_captum(digits):
    module, X, _ = digits
    x = X[:6]
    targets = predict_logits(module, x, 64).argmax(1)
    ours = attribute(module, x, targets, "integrated_gradients", MethodSettings(n_steps=16))
    xt = torch.from_numpy(x)
    theirs = captum_attr.IntegratedGradients(module).attribute(
        xt, baselines=torch.zeros_like(xt), target=torch.from_numpy(targets), n_steps=16
    )
    np.testing.assert_allclose(ours, theirs.sum(dim=1).detach().numpy(), rtol=1e-4, atol=1e-6)
    # Completeness: the attributions add up to f(x) - f(0) (IG's axiom), up to the
    # quadrature error of 16 Gauss-Legendre points.
    logits = predict_logits(module, x, 64)
    zero = predict_logits(module, np.zeros_like(x), 64)
    gap = logits[np.arange(6), targets] - zero[np.arange(6), targets]
    np.testing.assert_allclose(ours.sum(axis=(1, 2)), gap, rtol=0.05, atol=0.05)


def test_gradients_and_gradcam_equal_captum(digits):
    module, X, _ = digits
    x = torch.from_numpy(X[:5]).requires_grad_(True)  # as Captum wants it, no warning
    t = torch.tensor([0, 1, 2, 3, 4])
    ours = attribute(module, X[:5], t.numpy(), "gradients", MethodSettings())
    theirs = captum_attr.Saliency(module).attribute(x, target=t, abs=True).sum(dim=1)
    np.testing.assert_allclose(ours, theirs.detach().numpy(), rtol=1e-5, atol=1e-7)
    ours = attribute(module, X[:5], t.numpy(), "gradcam", MethodSettings())
    cam = captum_attr.LayerGradCam(module, module.conv2).attribute(
        x, target=t, relu_attributions=True
    )
    cam = captum_attr.LayerAttribution.interpolate(cam, (8, 8), interpolate_mode="bilinear")
    np.testing.assert_allclose(ours, cam[:, 0].detach().numpy(), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    "method", ["gradients", "gradient_x_input", "integrated_gradients", "gradcam", "occlusion"]
)
def test_batched_run_equals_per_image_run(digits, method):
    module, X, _ = digits
    x = X[:7]
    t = predict_logits(module, x, 64).argmax(1)
    settings = MethodSettings(n_steps=8)
    batched = attribute(module, x, t, method, settings)
    assert settings.rows(x.shape[1:]) >= 7 * 8  # all images in one call
    # Odd row budgets: IG splits its steps, occlusion its windows, across forward passes.
    for rows in (1, 5):
        small = attribute(module, x, t, method, MethodSettings(n_steps=8, batch_size=rows))
        # Float sums in another order: differences of a few 1e-7 (occlusion's score drops).
        np.testing.assert_allclose(small, batched, rtol=1e-4, atol=1e-5)
    per_image = np.concatenate(
        [attribute(module, x[i : i + 1], t[i : i + 1], method, settings) for i in range(7)]
    )
    np.testing.assert_allclose(per_image, batched, rtol=1e-4, atol=1e-5)


def test_smoothgrad_is_seeded_and_leaves_the_global_generator_alone(digits):
    module, X, _ = digits
    t = np.zeros(4, dtype=np.int64)
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    a = attribute(module, X[:4], t, "smoothgrad", MethodSettings(nt_samples=4, random_state=3))
    assert torch.rand(1) == expected_next  # Captum's noise did not consume the global stream
    b = attribute(module, X[:4], t, "smoothgrad", MethodSettings(nt_samples=4, random_state=3))
    c = attribute(module, X[:4], t, "smoothgrad", MethodSettings(nt_samples=4, random_state=4))
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)


def test_eval_mode_is_restored(digits):
    module = DigitsCNN()
    module.train()
    compute_saliency(module, digits[1][:3], methods="gradients", faithfulness=False, sanity=False)
    assert module.training


def test_method_names_and_aliases():
    assert canonical_methods("gradcam,ig,smoothgrad") == (
        "gradcam",
        "integrated_gradients",
        "smoothgrad",
    )
    assert canonical_methods(["SG", "Grad-CAM", "saliency", "gxi", "ig"]) == (
        "smoothgrad",
        "gradcam",
        "gradients",
        "gradient_x_input",
        "integrated_gradients",
    )
    assert canonical_methods("all") == METHODS
    with pytest.raises(InvalidInputError, match="did you mean 'gradcam'"):
        canonical_methods("gradcma")
    with pytest.raises(InvalidInputError, match="No saliency method"):
        canonical_methods("")


# --- Grad-CAM's layer ---------------------------------------------------------------------


def test_gradcam_layer_found_or_named(digits):
    module, X, _ = digits
    assert find_layer(module, None)[0] == "conv2"
    nested = nn.Sequential(
        nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()),
        nn.Conv2d(2, 2, 3),
        nn.Flatten(),
        nn.Linear(2 * 4 * 4, 3),
    )
    assert find_layer(nested, None)[0] == "1"
    last = compute_saliency(module, X[:4], methods="gradcam", faithfulness=False, sanity=False)
    first = compute_saliency(
        module, X[:4], methods="gradcam", gradcam_layer="conv1", faithfulness=False, sanity=False
    )
    assert first.settings["gradcam_layer"] == "conv1"
    assert not np.allclose(first.maps["gradcam"], last.maps["gradcam"])


def test_gradcam_bad_layer_name(digits):
    module, X, _ = digits
    with pytest.raises(InvalidInputError, match=r"'conv3' is not in the model.*conv1, conv2"):
        compute_saliency(module, X[:2], methods="gradcam", gradcam_layer="conv3")
    with pytest.raises(InvalidInputError, match="Closest names: conv1"):
        find_layer(module, "conv_1")


def test_gradcam_without_convolutions():
    mlp = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    with pytest.raises(InvalidInputError, match=r"no torch\.nn\.Conv2d"):
        compute_saliency(mlp, np.zeros((2, 1, 8, 8), np.float32), methods="gradcam")
    # Pixel methods work on any differentiable classifier.
    out = compute_saliency(
        mlp, np.zeros((2, 1, 8, 8), np.float32), methods="ig", sanity=False, faithfulness=False
    )
    assert out.maps["integrated_gradients"].shape == (2, 8, 8)


def test_gradcam_refuses_torchscript(digits):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.script(digits[0])
    with pytest.raises(ModelError, match="TorchScript"):
        compute_saliency(scripted, digits[1][:2], methods="gradcam")
    out = compute_saliency(
        scripted, digits[1][:3], methods="gradients", faithfulness=False, sanity_images=2
    )
    eager = compute_saliency(
        digits[0], digits[1][:3], methods="gradients", faithfulness=False, sanity_images=2
    )
    np.testing.assert_allclose(out.maps["gradients"], eager.maps["gradients"], rtol=1e-5)


# --- bad input ----------------------------------------------------------------------------


def test_wrong_channel_count(digits):
    module, X, _ = digits
    rgb = np.repeat(X[:2], 3, axis=1)
    with pytest.raises(
        SchemaError,
        match=r"3 channels but the model's first convolution "
        r"takes 1.*channels=1",
    ):
        compute_saliency(module, rgb, methods="gradients")
    # Declared once in the preprocessing, the same images work.
    out = compute_saliency(
        module,
        rgb,
        methods="gradients",
        preprocess=Preprocess(channels=1),
        faithfulness=False,
        sanity=False,
    )
    assert out.maps["gradients"].shape == (2, 8, 8)


def test_wrong_size(digits):
    module = digits[0]
    big = np.zeros((2, 1, 16, 16), np.float32)
    with pytest.raises(SchemaError, match=r"fails on images of shape \(1, 16, 16\).*--resize"):
        compute_saliency(module, big, methods="gradients")
    out = compute_saliency(
        module,
        big,
        methods="gradients",
        preprocess=Preprocess(size=(8, 8)),
        faithfulness=False,
        sanity=False,
    )
    assert out.images.shape == (2, 8, 8, 1)


def test_target_out_of_range(digits):
    module, X, y = digits
    with pytest.raises(InvalidInputError, match=r"out of range: 10 \(image 0\).*10 classes"):
        compute_saliency(module, X[:3], targets=10, methods="gradients")
    with pytest.raises(InvalidInputError, match=r"out of range: -1 \(image 1\)"):
        compute_saliency(module, X[:3], targets=[0, -1, 2], methods="gradients")
    with pytest.raises(InvalidInputError, match="one class index per image"):
        compute_saliency(module, X[:3], targets=[0, 1], methods="gradients")
    with pytest.raises(InvalidInputError, match="needs labelled images"):
        compute_saliency(module, X[:3], targets="labels", methods="gradients")
    out = compute_saliency(
        module,
        X[:3],
        labels=y[:3],
        targets="labels",
        methods="gradients",
        faithfulness=False,
        sanity=False,
    )
    np.testing.assert_array_equal(out.targets, y[:3])


def test_bad_options(digits):
    module, X, _ = digits
    with pytest.raises(InvalidInputError, match="n_steps"):
        compute_saliency(module, X[:2], methods="ig", n_steps=0)
    with pytest.raises(InvalidInputError, match="baseline"):
        compute_saliency(module, X[:2], methods="gradients", baseline="black", sanity=False)
    with pytest.raises(ModelError, match="received a dict"):
        compute_saliency({"weights": 1}, X[:2])
    with pytest.raises(ModelError, match="does not exist"):
        compute_saliency("no/such/model.pt", X[:2])
    with pytest.raises(ModelError, match="one row of class scores"):
        compute_saliency(nn.Sequential(nn.Flatten(), nn.Linear(64, 1)), X[:2], methods="gradients")


# --- images and preprocessing ---------------------------------------------------------------


def _png(path, array):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def test_folder_with_class_subfolders(tmp_path):
    rng = np.random.default_rng(0)
    for label in ("0", "2", "10"):
        for i in range(2):
            _png(tmp_path / label / f"{i}.png", rng.integers(0, 256, (8, 8), dtype=np.uint8))
    (tmp_path / "2" / "notes.txt").write_text("not an image")
    s = load_images(tmp_path)
    assert len(s) == 6 and s.shape == (1, 8, 8)
    # Integer folder names are the labels themselves, whatever their sort order.
    assert sorted(set(s.labels.tolist())) == [0, 2, 10]
    assert len(s.classes) == 11
    assert s.names[0] == "0/0.png"
    assert 0.0 <= s.inputs.min() and s.inputs.max() <= 1.0  # 8-bit values scaled by 255


def test_folder_with_named_classes_and_rgb(tmp_path):
    rng = np.random.default_rng(1)
    for label in ("cat", "dog"):
        _png(tmp_path / label / "a.png", rng.integers(0, 256, (6, 6, 3), dtype=np.uint8))
    pre = Preprocess(size=(4, 4), mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))
    s = load_images(tmp_path, preprocess=pre)
    assert s.classes == ["cat", "dog"] and s.labels.tolist() == [0, 1]
    assert s.inputs.shape == (2, 3, 4, 4) and s.display.shape == (2, 4, 4, 3)
    np.testing.assert_allclose(s.inputs, (np.moveaxis(s.display, 3, 1) - 0.5) / 0.25, atol=1e-6)


def test_npz_and_arrays(tmp_path):
    X = np.random.default_rng(0).random((5, 8, 8, 1)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=X, y=np.arange(5))
    s = load_images(tmp_path / "d.npz")
    assert s.inputs.shape == (5, 1, 8, 8) and s.labels.tolist() == [0, 1, 2, 3, 4]
    np.testing.assert_array_equal(s.inputs[:, 0], X[..., 0])
    assert load_images(torch.from_numpy(X[..., 0])).shape == (1, 8, 8)
    np.savez(tmp_path / "bad.npz", pictures=X)
    with pytest.raises(DataError, match="no array named 'images'"):
        load_images(tmp_path / "bad.npz")


def test_empty_folder_and_other_image_errors(tmp_path):
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(DataError, match="holds no images"):
        load_images(tmp_path / "empty")
    with pytest.raises(DataError, match="does not exist"):
        load_images(tmp_path / "missing")
    _png(tmp_path / "mixed" / "a.png", np.zeros((8, 8), np.uint8))
    _png(tmp_path / "mixed" / "b.png", np.zeros((9, 9), np.uint8))
    with pytest.raises(DataError, match="differ in size"):
        load_images(tmp_path / "mixed")
    assert load_images(tmp_path / "mixed", preprocess=Preprocess(size=8)).shape == (1, 8, 8)
    assert load_images(tmp_path / "mixed", preprocess=Preprocess(size=8)).labels is None
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "x.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match="cannot be read"):
        load_images(tmp_path / "broken")
    with pytest.raises(DataError, match="NaN"):
        load_images(np.full((2, 8, 8), np.nan))
    with pytest.raises(InvalidInputError, match="'mean' and 'std' go together"):
        Preprocess(mean=0.5)
    with pytest.raises(InvalidInputError, match="channels"):
        Preprocess(channels=2)


def test_preprocess_is_applied_the_same_way_everywhere(tmp_path, digits):
    X = digits[1]
    pixels = np.rint(X[:4, 0] * 255).astype(np.uint8)
    for i, a in enumerate(pixels):
        _png(tmp_path / "imgs" / f"{i}.png", a)
    np.savez(tmp_path / "d.npz", images=pixels)
    from_folder = load_images(tmp_path / "imgs")
    from_npz = load_images(tmp_path / "d.npz")
    from_array = load_images(pixels)
    np.testing.assert_array_equal(from_folder.inputs, from_npz.inputs)
    np.testing.assert_array_equal(from_folder.inputs, from_array.inputs)
    np.testing.assert_allclose(from_array.inputs, X[:4], atol=1 / 255)


# --- faithfulness ---------------------------------------------------------------------------


def test_pixel_ranks_break_ties_at_random():
    maps = np.array([[[3.0, 1.0], [1.0, 0.0]]])
    ranks = pixel_ranks(maps, np.random.default_rng(0))
    assert ranks[0, 0] == 0 and ranks[0, 3] == 3 and sorted(ranks[0, 1:3]) == [1, 2]


def test_faithfulness_curves(digits):
    module, X, _ = digits
    x = X[:24]
    t = predict_logits(module, x, 64).argmax(1)
    maps = {
        "integrated_gradients": attribute(
            module, x, t, "integrated_gradients", MethodSettings(n_steps=16)
        )
    }
    f = faithfulness(module, x, maps, t, steps=8, random_state=0, batch_size=50)
    assert f.fractions.tolist() == pytest.approx(np.linspace(0, 1, 9).tolist())
    for store in (f.deletion, f.insertion):
        assert set(store) == {"integrated_gradients", RANDOM}
        assert all(c.shape == (24, 9) for c in store.values())
    p = np.exp(predict_logits(module, x, 64))
    p = p[np.arange(24), t] / p.sum(axis=1)
    for m in ("integrated_gradients", RANDOM):
        # Nothing deleted is the image itself; everything deleted is the baseline image,
        # where insertion starts; insertion ends at the image.
        np.testing.assert_allclose(f.deletion[m][:, 0], p, rtol=1e-5)
        np.testing.assert_allclose(f.insertion[m][:, -1], p, rtol=1e-5)
        np.testing.assert_allclose(f.deletion[m][:, -1], f.insertion[m][:, 0], rtol=1e-5)
    # IG's top pixels take the score down faster than random pixels.
    row = f.frame().set_index("method").loc["integrated_gradients"]
    assert row.deletion_auc < f.frame().set_index("method").loc[RANDOM].deletion_auc
    assert row.deletion_gain_low > 0 and bool(row.better_than_random)
    assert row.insertion_gain_low > 0
    curves = f.curves_frame()
    assert set(curves.curve) == {"deletion", "insertion"} and len(curves) == 2 * 2 * 9
    # The same seed, the same curves; batch size does not matter.
    again = faithfulness(module, x, maps, t, steps=8, random_state=0, batch_size=7)
    np.testing.assert_allclose(again.deletion[RANDOM], f.deletion[RANDOM], rtol=1e-6)


def test_faithfulness_baselines(digits):
    module, X, _ = digits
    x = X[:4]
    t = np.zeros(4, dtype=np.int64)
    maps = {"gradients": attribute(module, x, t, "gradients", MethodSettings())}
    for baseline in ("mean", "blur", 0.5):
        f = faithfulness(module, x, maps, t, steps=4, baseline=baseline)
        assert np.isfinite(f.deletion["gradients"]).all()


# --- sanity check ---------------------------------------------------------------------------


def test_rank_correlation_matches_scipy():
    from scipy.stats import spearmanr

    rng = np.random.default_rng(0)
    a = rng.random((5, 6, 6))
    b = a + rng.normal(0, 0.3, a.shape)
    b[0, :3] = 0.0  # ties
    ours = rank_correlation(a, b)
    theirs = [spearmanr(a[i].ravel(), b[i].ravel()).statistic for i in range(5)]
    np.testing.assert_allclose(ours, theirs, rtol=1e-12)
    const = np.zeros((2, 4, 4))
    np.testing.assert_array_equal(
        rank_correlation(const, np.stack([const[0], a[0, :4, :4]])), [1.0, 0.0]
    )


def test_ssim_matches_skimage():
    skimage_metrics = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(0)
    a = rng.random((3, 32, 32))
    b = np.clip(a + rng.normal(0, 0.2, a.shape), 0, 1)
    ours = ssim(a, b)
    theirs = [
        skimage_metrics.structural_similarity(
            a[i],
            b[i],
            data_range=1.0,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
        for i in range(3)
    ]
    np.testing.assert_allclose(ours, theirs, rtol=1e-10)
    np.testing.assert_allclose(ssim(a[:, :8, :8], a[:, :8, :8]), 1.0)  # small maps: no crop


def test_sanity_check_randomisation_changes_gradient_maps(digits):
    module, X, _ = digits
    before = {k: v.clone() for k, v in module.state_dict().items()}
    x = X[:6]
    t = predict_logits(module, x, 64).argmax(1)
    methods = ("gradients", "smoothgrad", "gradcam", "integrated_gradients")
    s = sanity_check(module, x, t, methods, MethodSettings(n_steps=8, nt_samples=4))
    # The trained model is left as it was (a copy is randomised).
    assert all(torch.equal(before[k], v) for k, v in module.state_dict().items())
    assert s.steps == (("fc2",), ("fc1",), ("conv2",), ("conv1",))
    frame = s.frame()
    assert len(frame) == len(methods) * 5
    assert (frame[frame.step == 0].spearman == 1.0).all()
    for m in ("gradients", "smoothgrad", "gradcam"):
        assert s.passed(m), s.summary_frame()
        assert s.spearman[m][-1].mean() < 0.5
    # Integrated Gradients multiplies by the input: its maps keep the digit's outline with
    # random weights (Adebayo et al. 2018), so it stays far more similar than gradients.
    assert s.spearman["integrated_gradients"][-1].mean() > s.spearman["gradients"][-1].mean() + 0.3
    assert s.example_maps["gradients"].shape == (5, 8, 8)


def test_sanity_verdict_flags_unchanged_maps():
    # A method whose maps do not move with the weights fails; one that moves passes.
    steps = (("fc",), ("conv",))
    unchanged = np.ones((3, 4))
    moved = np.vstack([np.ones(4), [0.4, 0.3, 0.2, 0.3], [0.1, 0.0, 0.2, -0.1]])
    s = SanityCheck(
        methods=("a", "b"),
        steps=steps,
        spearman={"a": unchanged, "b": moved},
        ssim={"a": unchanged * 0.9, "b": moved * 0.5},
        threshold=0.5,
    )
    assert s.failing() == ["a"] and s.passed("b")
    assert s.step_labels() == ["trained", "fc", "conv"]
    with pytest.raises(InvalidInputError, match="not in these results"):
        s.passed("c")


def test_cascade_in_blocks_for_deep_networks():
    deep = nn.Sequential(*[nn.Linear(4, 4) for _ in range(20)])
    steps = cascade_layers(deep, max_steps=8)
    assert len(steps) == 8 and steps[0][0] == "19" and steps[-1][-1] == "0"
    assert sum(len(b) for b in steps) == 20
    assert len(cascade_layers(deep, None)) == 20


# --- the whole run, results and the report section -------------------------------------------


@pytest.fixture(scope="module")
def run(digits):
    module, X, y = digits
    return compute_saliency(
        module,
        X[:16],
        labels=y[:16],
        methods=("gradients", "ig", "gradcam"),
        random_state=0,
        **FAST,
    )


def test_result_object(run):
    assert isinstance(run, SaliencyMaps)
    assert run.methods == ("gradients", "integrated_gradients", "gradcam")
    assert run.maps["gradcam"].shape == (16, 8, 8) and run.images.shape == (16, 8, 8, 1)
    frame = run.frame()
    assert list(frame.columns) == [
        "image",
        "name",
        "label",
        "target",
        "predicted",
        "target_probability",
        "correct",
    ]
    assert frame.correct.mean() > 0.9
    d = run.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["settings"]["gradcam_layer"] == "conv2" and d["settings"]["n_steps"] == 8
    assert set(d["faithfulness"]["mean_curves"]["deletion"]) == {*run.methods, RANDOM}
    assert d["sanity"]["steps"] == [["fc2"], ["fc1"], ["conv2"], ["conv1"]]
    assert d["sanity"]["images"] == [0, 5, 10, 15]  # spread through the set, not the first 4
    assert len(run.to_dict(include_maps=True)["maps"]["gradients"]) == 16
    assert run.sanity.frame().shape[0] == 3 * 5
    assert run.faithfulness.frame().shape[0] == 4


def test_same_seed_same_result(digits, run):
    module, X, y = digits
    again = compute_saliency(
        module,
        X[:16],
        labels=y[:16],
        methods=("gradients", "ig", "gradcam"),
        random_state=0,
        **FAST,
    )
    for m in run.methods:
        np.testing.assert_array_equal(again.maps[m], run.maps[m])
    np.testing.assert_array_equal(
        again.faithfulness.deletion[RANDOM], run.faithfulness.deletion[RANDOM]
    )
    np.testing.assert_array_equal(
        again.sanity.spearman["gradients"], run.sanity.spearman["gradients"]
    )


def test_max_images_keeps_every_class(digits):
    module, X, y = digits
    order = np.argsort(y, kind="stable")  # sorted by class, as a folder would be
    out = compute_saliency(
        module,
        X[order],
        labels=y[order],
        methods="gradients",
        max_images=20,
        faithfulness=False,
        sanity=False,
    )
    assert out.n_images == 20 and len(set(out.labels.tolist())) == 10


def test_plots(run):
    from matplotlib.figure import Figure

    for fig in (
        run.plot(n=4),
        run.plot_method("gradcam", n=5, columns=3),
        run.faithfulness.plot(),
        run.sanity.plot(),
        run.sanity.plot_maps(image=run.images[0]),
    ):
        assert isinstance(fig, Figure)
    # One image per grid (not an axes per cell): wider with more images, taller with methods.
    small, wide = run.plot(n=3), run.plot(n=6)
    assert len(small.axes) == 1 and wide.get_figwidth() > small.get_figwidth()
    assert run.plot(n=3, methods=["gradcam"]).get_figheight() < small.get_figheight()
    with pytest.raises(InvalidInputError, match="not in these results"):
        run.plot_method("occlusion")


def test_report_section(run):
    from afterfit.report.html import render_page
    from afterfit.report.sections.saliency import saliency_section

    section = saliency_section(run)
    assert section.id == "saliency"
    ids = [f.id for f in section.figures()]
    assert ids == [
        "saliency-maps",
        "saliency-deletion",
        "saliency-insertion",
        "saliency-sanity",
        "saliency-sanity-ssim",
        "saliency-sanity-maps",
    ]
    assert [t.id for t in section.tables()] == [
        "saliency-faithfulness",
        "saliency-sanity",
        "saliency-sanity-cascade",
        "saliency-images",
    ]
    json.dumps([f.spec for f in section.figures()], allow_nan=False)
    json.dumps(section.data, allow_nan=False)
    grid = section.figures()[0].spec
    assert grid["layout"]["grid"]["rows"] == 1 + 3
    assert sum(t["type"] == "heatmap" for t in grid["data"]) == 6 * (1 + 2 * 3)
    # Findings: exactly the methods that fail the sanity check or do not beat random.
    failing = set(run.sanity.failing())
    not_faithful = {
        r.method
        for r in run.faithfulness.frame().itertuples()
        if r.method != RANDOM and not r.better_than_random
    }
    texts = [w.text for w in section.warnings]
    assert len(texts) == len(failing) + len(not_faithful)
    assert all(w.section == "saliency" and w.severity == "warning" for w in section.warnings)
    from afterfit.saliency.plots import label

    for m in failing:
        assert any(f"the {label(m)} maps barely change" in t for t in texts)
    for m in not_faithful:
        assert any(f"pixels {label(m)} ranks first" in t for t in texts)
    for f in section.figures():
        if f.png is not None:
            assert f.png() is not None
    html = render_page([section], inline_plotly=False)
    assert "Saliency" in html and "saliency-sanity-maps" in html


def test_report_section_without_checks(digits):
    from afterfit.report.page import Note
    from afterfit.report.sections.saliency import saliency_section

    module, X, _ = digits
    out = compute_saliency(
        module, np.repeat(X[:2], 1, axis=0), methods="gradients", faithfulness=False, sanity=False
    )
    section = saliency_section(out)
    assert [f.id for f in section.figures()] == ["saliency-maps"]
    assert any(isinstance(b, Note) for b in section.blocks) and section.warnings == ()


def test_image_set_is_accepted_as_is(digits):
    module, X, _ = digits
    s = load_images(X[:3])
    assert isinstance(s, ImageSet) and load_images(s) is s
    out = compute_saliency(module, s, methods="gradients", faithfulness=False, sanity=False)
    assert out.names == ["#0", "#1", "#2"]


def test_every_method_runs_on_rgb_images_with_normalisation():
    torch.manual_seed(0)
    net = DigitsCNN(channels=4, n_classes=3, in_channels=3, size=12)
    X = np.random.default_rng(0).integers(0, 256, (3, 12, 12, 3), dtype=np.uint8)
    pre = Preprocess(mean=(0.5, 0.4, 0.3), std=(0.2, 0.2, 0.2))
    out = compute_saliency(
        net,
        X,
        methods="all",
        preprocess=pre,
        n_steps=4,
        nt_samples=2,
        faithfulness_steps=4,
        sanity_images=2,
    )
    assert set(out.maps) == set(METHODS)
    assert all(m.shape == (3, 12, 12) and np.isfinite(m).all() for m in out.maps.values())
    assert out.images.shape == (3, 12, 12, 3) and out.images.max() <= 1.0
    assert out.settings["occlusion_window_used"] == 2


def test_missing_captum_names_the_extra(monkeypatch, digits):
    from afterfit.errors import MissingDependencyError

    monkeypatch.setitem(sys.modules, "captum", None)  # import captum now fails
    monkeypatch.setitem(sys.modules, "captum.attr", None)
    with pytest.raises(MissingDependencyError, match=r"'captum'.*afterfit\[saliency\]"):
        compute_saliency(digits[0], digits[1][:2], methods="gradients")


def test_float64_network_takes_float32_images(digits):
    torch.manual_seed(0)
    net = DigitsCNN(channels=4).double()
    out = compute_saliency(
        net,
        digits[1][:3],
        methods=("gradients", "ig", "gradcam"),
        n_steps=4,
        faithfulness_steps=4,
        sanity_images=2,
    )
    assert all(m.dtype == np.float32 and np.isfinite(m).all() for m in out.maps.values())
