"""Saliency maps: afterfit's batched run against a plain per-image Captum loop, on the CPU.

Run from the repository root::

    .venv/bin/python benchmarks/bench_saliency.py              # 64 images, 1 torch thread
    .venv/bin/python benchmarks/bench_saliency.py --threads 2 --images 128

Model and data: the bundled digits CNN (``train_digits_cnn(random_state=0)``, about 98%
test accuracy) and its first 64 test images (8x8, one channel). Two methods, each
explaining the predicted class: Integrated Gradients (zero baseline, 50 Gauss-Legendre
steps) and Grad-CAM (last convolution, bilinear upsampling).

- afterfit: ``afterfit.saliency.compute_saliency(module, X, methods=("integrated_gradients",
  "gradcam"), n_steps=50, faithfulness=False, sanity=False)``: input checks, predictions,
  then each method over chunks of images (at most 512 rows per forward pass by default);
  a second row runs it with ``batch_size=64`` (``--batch-size``): less memory, more passes.
- per-image loop: for each image, ``IntegratedGradients(module).attribute(x_i,
  baselines=0, target=t_i, n_steps=50)`` and ``LayerGradCam(module, conv2).attribute(x_i,
  target=t_i, relu_attributions=True)`` upsampled with ``LayerAttribution.interpolate``.

Each timing is the best of ``--repeats`` runs (interleaved); timings on a shared machine
move by +-30% from run to run, so read the ratio of one run. Memory, for each variant in a
fresh subprocess:

- ``tracemalloc`` peak: Python and numpy allocations during the call; torch's CPU tensors
  do not go through Python's allocator, so this misses them;
- max RSS growth: ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` after the call minus the
  RSS before it (``/proc/self/statm``), torch included;
- VmHWM growth: the same with the peak RSS of ``/proc/self/status``, after resetting the
  peak (``echo 5 > /proc/self/clear_refs``) just before the call. The reset does not
  always reach ``ru_maxrss`` (the kernel also keeps the peak of exited threads, and torch
  starts and stops threads), so VmHWM is the figure to read where it is available.

The script also checks that both give the same maps. Goals (one PASS/FAIL line each): the
maps agree within 1e-4 (relative to the largest value), and afterfit is at least 1.5x
faster. The network is tiny, so both are mostly arithmetic: batching removes Captum's
per-call overhead (about 3 ms per image here), not the forward and backward passes.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import tracemalloc

import numpy as np


def _setup(n_images: int, threads: int):
    import torch

    torch.set_num_threads(threads)
    from afterfit.saliency import train_digits_cnn

    module, X_test, _ = train_digits_cnn(random_state=0)
    X = np.ascontiguousarray(X_test[:n_images])
    with torch.no_grad():
        t = module(torch.from_numpy(X)).argmax(1).numpy()
    return module, X, t


def run_afterfit(module, X, t, n_steps: int, batch_size: int | None = None) -> dict:
    from afterfit.saliency import compute_saliency

    out = compute_saliency(
        module,
        X,
        targets=t,
        methods=("integrated_gradients", "gradcam"),
        n_steps=n_steps,
        batch_size=batch_size,
        faithfulness=False,
        sanity=False,
    )
    return dict(out.maps)


def run_loop(module, X, t, n_steps: int, batch_size: int | None = None) -> dict:
    """The reference; ``batch_size`` is unused (one image per call)."""
    import torch
    from captum.attr import IntegratedGradients, LayerAttribution, LayerGradCam

    ig, cam = [], []
    ig_method = IntegratedGradients(module)
    cam_method = LayerGradCam(module, module.conv2)
    for i in range(len(X)):
        x = torch.from_numpy(X[i : i + 1]).requires_grad_(True)
        a = ig_method.attribute(x, baselines=torch.zeros_like(x), target=int(t[i]), n_steps=n_steps)
        ig.append(a.sum(dim=1).detach().numpy())
        c = cam_method.attribute(x, target=int(t[i]), relu_attributions=True)
        c = LayerAttribution.interpolate(c, X.shape[2:], interpolate_mode="bilinear")
        cam.append(c[:, 0].detach().numpy())
    return {"integrated_gradients": np.concatenate(ig), "gradcam": np.concatenate(cam)}


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _hwm_bytes() -> int:
    """Peak RSS since the last reset (``VmHWM`` in ``/proc/self/status``)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise OSError("no VmHWM line")


def _reset_peak() -> bool:
    """Reset the process's peak RSS (Linux >= 4.0: ``echo 5 > /proc/self/clear_refs``)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _memory_child(which: str, folder: str, threads: int, n_steps: int, batch: int) -> None:
    """Runs in a fresh process: one variant, tracemalloc peak and max-RSS growth as JSON."""
    import torch

    from afterfit.saliency.example import DigitsCNN

    torch.set_num_threads(threads)
    module = DigitsCNN()
    module.load_state_dict(torch.load(os.path.join(folder, "cnn.pt"), weights_only=True))
    module.eval()
    with np.load(os.path.join(folder, "data.npz")) as data:
        X, t = data["X"], data["t"]
    fn = {"afterfit": run_afterfit, "afterfit_small": run_afterfit, "loop": run_loop}[which]
    kwargs = {"batch_size": batch} if which == "afterfit_small" else {}
    fn(module, X[:2], t[:2], 2, **kwargs)  # imports and first-call allocations out of the way
    rss_before = _rss_bytes()
    reset = _reset_peak()
    tracemalloc.start()
    fn(module, X, t, n_steps, **kwargs)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    hwm = _hwm_bytes() if reset else None
    print(
        json.dumps(
            {
                "tracemalloc_peak": peak,
                "maxrss_growth": max(0, maxrss - rss_before),
                "hwm_growth": None if hwm is None else max(0, hwm - rss_before),
                "reset": reset,
            }
        )
    )


def _memory(which: str, folder: str, args: argparse.Namespace) -> dict[str, int]:
    cmd = [sys.executable, __file__, "--child", which, "--folder", folder,
           "--threads", str(args.threads), "--steps", str(args.steps),
           "--batch-size", str(args.batch_size)]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


VARIANTS = (
    ("afterfit", "afterfit compute_saliency(), batched"),
    ("afterfit_small", "afterfit, batch_size={b}"),
    ("loop", "per-image Captum loop"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--steps", type=int, default=50, help="Integrated Gradients steps")
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--batch-size",
        type=int,
        default=64,
        help="rows per forward pass of the second afterfit row (memory near the loop's)",
    )
    parser.add_argument("--child", choices=[v[0] for v in VARIANTS], help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _memory_child(args.child, args.folder, args.threads, args.steps, args.batch_size)
        return

    import tempfile

    import captum
    import torch

    print(f"load average at start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)")
    print(f"torch {torch.__version__}, captum {captum.__version__}, {args.threads} torch thread(s)")
    module, X, t = _setup(args.images, args.threads)
    print(f"{len(X)} digit images {X.shape[1:]}, IG {args.steps} steps + Grad-CAM (conv2)")
    # Warm-up: first calls pay for imports and allocator growth.
    run_afterfit(module, X[:4], t[:4], 4)
    run_loop(module, X[:4], t[:4], 4)
    times: dict[str, list[float]] = {name: [] for name, _ in VARIANTS}
    maps = {}
    for _ in range(args.repeats):
        for name, _ in VARIANTS:
            fn = run_loop if name == "loop" else run_afterfit
            kwargs = {"batch_size": args.batch_size} if name == "afterfit_small" else {}
            start = time.perf_counter()
            maps[name] = fn(module, X, t, args.steps, **kwargs)
            times[name].append(time.perf_counter() - start)
    best = {k: min(v) for k, v in times.items()}
    with tempfile.TemporaryDirectory() as folder:
        torch.save(module.state_dict(), os.path.join(folder, "cnn.pt"))
        np.savez(os.path.join(folder, "data.npz"), X=X, t=t)
        mem = {name: _memory(name, folder, args) for name, _ in VARIANTS}
    mb = 1024 * 1024

    print()
    print(
        f"{'':34s}{'time (best of ' + str(args.repeats) + ')':>18s}"
        f"{'tracemalloc peak':>18s}{'max RSS growth':>16s}{'VmHWM growth':>14s}"
    )
    for name, label in VARIANTS:
        label = label.format(b=args.batch_size)
        hwm = mem[name]["hwm_growth"]
        print(
            f"{label:34s}{best[name]:>16.3f} s{mem[name]['tracemalloc_peak'] / mb:>15.2f} MB"
            f"{mem[name]['maxrss_growth'] / mb:>13.1f} MB"
            + (f"{hwm / mb:>11.1f} MB" if hwm is not None else f"{'n/a':>14s}")
        )
    reset = all(m["reset"] for m in mem.values())
    print(
        "Memory, each variant in a fresh process. tracemalloc peak: Python and numpy "
        "allocations only (torch tensors are not traced). max RSS growth: "
        "resource.getrusage(RUSAGE_SELF).ru_maxrss after the call minus the RSS before it. "
        "VmHWM growth: the peak RSS of /proc/self/status after the call minus the RSS "
        "before it, "
        + (
            "the peak reset through /proc/self/clear_refs just before the call."
            if reset
            else "n/a: /proc/self/clear_refs is not writable here."
        )
    )
    key = "hwm_growth" if reset else "maxrss_growth"
    ratio = best["loop"] / best["afterfit"]
    print(
        f"speed-up (loop time / afterfit time): {ratio:.1f}x; with batch_size="
        f"{args.batch_size}: {best['loop'] / best['afterfit_small']:.1f}x"
    )
    loop_rss = max(mem["loop"][key], 1)
    print(
        f"peak memory growth / loop's ({key}): {mem['afterfit'][key] / loop_rss:.1f}x; with "
        f"batch_size={args.batch_size}: {mem['afterfit_small'][key] / loop_rss:.1f}x"
    )

    worst = 0.0
    for name in ("afterfit", "afterfit_small"):
        for m in ("integrated_gradients", "gradcam"):
            a, b = maps[name][m], maps["loop"][m]
            diff = float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-12))
            worst = max(worst, diff)
            if name == "afterfit":
                print(f"max |difference| / max |map|, {m}: {diff:.2e}")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")
    print()
    print(f"{'PASS' if worst <= 1e-4 else 'FAIL'}: maps agree within 1e-4 ({worst:.1e})")
    print(f"{'PASS' if ratio >= 1.5 else 'FAIL'}: afterfit at least 1.5x faster ({ratio:.1f}x)")


if __name__ == "__main__":
    main()
