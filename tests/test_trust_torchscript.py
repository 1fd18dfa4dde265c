"""TorchScript is code: without --trust a .pt TorchScript file loads only when every
method, hook and called function computes on tensors alone, and nothing runs at load.

Payloads write, read and open files the ways TorchScript allows (``torch.from_file``
shared or not, ``torch.save``), from ``forward``, from a submodule, a scripted function,
a TorchScript class, a hook, another exported method, and ``__setstate__`` (run by
``torch.jit.load`` itself); one archive is edited by hand, as an attacker would. Each is
refused by name, and the file it targets never appears.
"""

from __future__ import annotations

import os
import warnings
import zipfile
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from afterfit.errors import UntrustedModelError  # noqa: E402
from afterfit.saliency.example import DigitsCNN  # noqa: E402
from afterfit.saliency.loading import load_torch_module  # noqa: E402

# The payloads write here; the module-level path is baked into their TorchScript code.
TARGET_DIR = Path(os.environ.get("TMPDIR", "/tmp")) / f"afterfit-ts-payload-{os.getpid()}"
WRITE = str(TARGET_DIR / "written.bin")
SAVE = str(TARGET_DIR / "saved.pt")
SETSTATE = str(TARGET_DIR / "setstate.bin")
SECRET = str(TARGET_DIR / "secret.txt")


@pytest.fixture(autouse=True)
def clean_target():
    TARGET_DIR.mkdir(exist_ok=True)
    Path(SECRET).write_text("secret!!" * 4)
    for name in (WRITE, SAVE, SETSTATE):
        Path(name).unlink(missing_ok=True)
    yield
    for p in TARGET_DIR.iterdir():
        p.unlink()


def _save(module: nn.Module, path: Path) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript is deprecated
        torch.jit.save(torch.jit.script(module), str(path))
    return path


def _nothing_written() -> bool:
    return not any(Path(p).exists() for p in (WRITE, SAVE, SETSTATE))


# ------------------------------------------------------------------------ payloads


class WritesThroughSharedFile(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 2)
        self.path = WRITE

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = torch.from_file(self.path, shared=True, size=16, dtype=torch.uint8)
        t.fill_(65)
        return self.fc(x) + t.sum() * 0


class SavesItsInput(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 2)
        self.path = SAVE

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        torch.save(x, self.path)
        return self.fc(x)


class ReadsAFile(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 2)
        self.path = SECRET

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        leaked = torch.from_file(self.path, shared=False, size=8, dtype=torch.uint8)
        return self.fc(x) + leaked.float().sum()


class Inner(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.path = SAVE

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        torch.save(x, self.path)
        return x


class HidesItInASubmodule(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner = Inner()
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.inner(x))


def sneaky(x: torch.Tensor, path: str) -> torch.Tensor:
    t = torch.from_file(path, shared=True, size=4, dtype=torch.uint8)
    return x + t.sum() * 0


class HidesItInAFunction(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 2)
        self.path = WRITE

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(sneaky(x, self.path))


class Writer:
    def __init__(self, path: str) -> None:
        self.path = path

    def write(self, x: torch.Tensor) -> torch.Tensor:
        torch.save(x, self.path)
        return x


class Item:
    def __init__(self, value: int, path: str) -> None:
        self.value = value
        self.path = path

    def __lt__(self, other: Item) -> bool:
        torch.save(torch.zeros(1), self.path)
        return self.value < other.value


class SortsItems(nn.Module):
    # list.sort() calls __lt__ from inside aten::sort: no call node shows it in forward.
    def __init__(self) -> None:
        super().__init__()
        self.path = SAVE

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        items = [Item(2, self.path), Item(1, self.path)]
        items.sort()
        return x * items[0].value


with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript is deprecated
    torch.jit.script(Writer)  # TorchScript classes, compiled once
    torch.jit.script(Item)


class HidesItInAClass(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 2)
        self.path = SAVE

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(Writer(self.path).write(x))


class HasAnExportedMethod(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 2)
        self.path = SAVE

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)

    @torch.jit.export
    def dump(self, x: torch.Tensor) -> None:
        torch.save(x, self.path)


class Prints(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        print("a message from the model file")
        return self.fc(x)


class RunsAtLoad(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = torch.ones(2, 4)
        self.k = 1
        self.path = SETSTATE

    @torch.jit.export
    def __getstate__(self) -> tuple[int, bool, str]:
        return (self.k, self.training, self.path)

    @torch.jit.export
    def __setstate__(self, state: tuple[int, bool, str]) -> None:
        t = torch.from_file(state[2], shared=True, size=4, dtype=torch.uint8)
        t.fill_(66)
        self.k = state[0] + int(t.sum().item()) * 0
        self.training = state[1]
        self.path = state[2]
        self.w = torch.ones(2, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.w.t()


class Hooked(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 2)
        self.path = SAVE

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


def pre_hook(module: Hooked, inp: tuple[torch.Tensor]) -> None:
    torch.save(inp[0], module.path)


def hook(module: Hooked, inp: tuple[torch.Tensor], out: torch.Tensor) -> None:
    torch.save(out, module.path)


class SeedsTheProcess(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        torch.manual_seed(3)
        return x * 2


class CallsACustomOperator(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        torch.ops.profiler._record_function_enter_new("x", None)
        return x * 2


class UsesAWithBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            y = self.fc(x)
        return y


def _hooked(kind: str) -> nn.Module:
    net = Hooked()

    if kind == "pre":
        net.register_forward_pre_hook(pre_hook)
    else:
        net.register_forward_hook(hook)
    return net


PAYLOADS = {
    # name: (module factory, words the message must hold)
    "shared from_file writes": (WritesThroughSharedFile, ["aten::from_file", "forward"]),
    "torch.save writes": (SavesItsInput, ["aten::save", "writes a file"]),
    "from_file reads": (ReadsAFile, ["aten::from_file"]),
    "in a submodule": (HidesItInASubmodule, ["aten::save", "Inner.forward"]),
    "in a scripted function": (HidesItInAFunction, ["aten::from_file"]),
    "in a TorchScript class": (HidesItInAClass, ["aten::save"]),
    "in an exported method": (HasAnExportedMethod, ["aten::save", "HasAnExportedMethod.dump"]),
    "print": (Prints, ["prim::Print"]),
    "global seed": (SeedsTheProcess, ["aten::manual_seed", "process-wide"]),
    "custom operator": (CallsACustomOperator, ["profiler::_record_function_enter_new"]),
    "with block": (UsesAWithBlock, ["prim::Enter", "__enter__"]),
    "in a forward pre-hook": (lambda: _hooked("pre"), ["aten::save", "Hooked.pre_hook"]),
    "in a forward hook": (lambda: _hooked("post"), ["aten::save", "Hooked.hook"]),
    "in a __lt__ that list.sort() calls": (SortsItems, ["aten::save", "Item.__lt__"]),
}


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_payloads_are_refused_by_name_and_never_run(name, tmp_path):
    factory, words = PAYLOADS[name]
    path = _save(factory(), tmp_path / "model.pt")
    with pytest.raises(UntrustedModelError) as info:
        load_torch_module(path)
    message = str(info.value)
    assert "--trust" in message
    for word in words:
        assert word in message
    assert _nothing_written()


def test_setstate_payload_is_refused_before_loading(tmp_path):
    path = _save(RunsAtLoad(), tmp_path / "model.pt")
    with pytest.raises(UntrustedModelError, match="__setstate__, which runs while it loads"):
        load_torch_module(path)
    assert not Path(SETSTATE).exists()  # torch.jit.load never ran
    # The payload is real: trusting the file runs it at load.
    load_torch_module(path, trust=True)
    assert Path(SETSTATE).read_bytes() == b"BBBB"


def test_payloads_are_real_and_run_with_trust(tmp_path):
    path = _save(WritesThroughSharedFile(), tmp_path / "model.pt")
    module = load_torch_module(path, trust=True)
    module(torch.zeros(1, 4))
    assert Path(WRITE).read_bytes() == b"A" * 16
    leak = load_torch_module(_save(ReadsAFile(), tmp_path / "r.pt"), trust=True)
    assert leak(torch.zeros(1, 4)).shape == (1, 2)


def test_a_hand_edited_archive_is_refused(tmp_path):
    # An attacker edits the code inside a clean archive; no Python class ever existed.
    clean = _save(nn.Sequential(nn.Linear(4, 2)), tmp_path / "clean.pt")
    with zipfile.ZipFile(clean) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    code = next(n for n in members if n.endswith("code/__torch__/torch/nn/modules/container.py"))
    text = members[code].decode()
    assert "    return input" in text or "return " in text
    text = text.replace(
        "  def forward(self: __torch__.torch.nn.modules.container.Sequential,\n"
        "    input: Tensor) -> Tensor:\n",
        "  def forward(self: __torch__.torch.nn.modules.container.Sequential,\n"
        "    input: Tensor) -> Tensor:\n"
        f'    torch.save(input, "{SAVE}")\n',
    )
    assert "torch.save" in text
    members[code] = text.encode()
    bad = tmp_path / "bad.pt"
    with zipfile.ZipFile(bad, "w", zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    trusted = load_torch_module(bad, trust=True)  # torch accepts the edited archive
    with pytest.raises(UntrustedModelError, match="aten::save"):
        load_torch_module(bad)
    assert _nothing_written()
    trusted(torch.zeros(1, 4))
    assert Path(SAVE).exists()


# ------------------------------------------------------------ real networks still load


class Custom(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv2d(1, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1)])
        self.bn = nn.BatchNorm2d(4)
        self.drop = nn.Dropout(0.1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.ln = nn.LayerNorm(4)
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = F.relu(conv(x))
        x = self.bn(x)
        if x.shape[0] > 1:
            x = self.drop(x)
        x = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        x = self.pool(x).flatten(1)
        x = F.gelu(self.ln(x), approximate="tanh")
        parts = [x[:, i : i + 1] * 2 for i in range(x.shape[1])]
        return torch.softmax(self.fc(torch.cat(parts, dim=1)), dim=-1)


class Sequence(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(10, 8)
        self.lstm = nn.LSTM(8, 8, batch_first=True)
        self.att = nn.MultiheadAttention(8, 2, batch_first=True)
        self.enc = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True)
        self.fc = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.emb(x.long().clamp(0, 9))
        h, _ = self.lstm(h)
        h, _ = self.att(h, h, h)
        return self.fc(self.enc(h).mean(1))


NETWORKS = {
    "digits-cnn": (lambda: DigitsCNN(channels=4), lambda: torch.rand(2, 1, 8, 8)),
    "custom": (Custom, lambda: torch.rand(2, 1, 8, 8)),
    "sequence": (Sequence, lambda: torch.randint(0, 9, (2, 5)).float()),
    "conv-stack": (
        lambda: nn.Sequential(
            nn.Conv2d(3, 8, 3),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(8 * 3 * 3, 2),
        ),
        lambda: torch.rand(2, 3, 8, 8),
    ),
}


# (Tracing the LSTM-and-attention network fails torch's own trace check: scripted only.)
CASES = [
    (n, h) for n in sorted(NETWORKS) for h in ("script", "trace") if (n, h) != ("sequence", "trace")
]


@pytest.mark.parametrize(("name", "how"), CASES)
def test_ordinary_networks_load_without_trust_and_compute_the_same(name, how, tmp_path):
    torch.manual_seed(0)
    factory, inputs = NETWORKS[name]
    net = factory().eval()
    x = inputs()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = torch.jit.script(net) if how == "script" else torch.jit.trace(net, x)
        torch.jit.save(scripted, str(tmp_path / "m.pt"))
    module = load_torch_module(tmp_path / "m.pt")
    with torch.no_grad():
        torch.testing.assert_close(module(x), net(x))


def test_the_cli_refuses_a_payload_with_exit_2_and_writes_nothing(tmp_path):
    pytest.importorskip("captum")
    import numpy as np

    from afterfit.cli import app

    path = _save(SavesItsInput(), tmp_path / "model.pt")
    np.savez(
        tmp_path / "images.npz",
        images=np.random.default_rng(0).random((2, 4, 4), dtype=np.float32),
        labels=np.arange(2),
    )
    result = CliRunner().invoke(
        app,
        ["saliency", "--model", str(path), "--images", str(tmp_path / "images.npz"),
         "--out", str(tmp_path / "out")],
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert "aten::save" in " ".join(result.output.split())
    assert _nothing_written()
