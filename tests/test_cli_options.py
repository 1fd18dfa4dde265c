"""The shared CLI options (``afterfit.cli._options``): one help text per flag everywhere.

Read from the Click command Typer builds (nothing is run): for every flag declared once in
``_options``, every command that has it shows the same help.
"""

from __future__ import annotations

import collections

import pytest
import typer
import typer.main

from afterfit.cli import app

#: Flags declared once in ``cli/_options.py`` and used as they are by every command that
#: has them. (``--quiet`` of ``serve`` also silences the access log, so it says so;
#: ``--out``, ``--data``, ``--model``, ``--seed``, ``--n-resamples`` and ``--threshold`` say
#: what each command does with them.)
SHARED = (
    "--target", "--confidence", "--figures", "--bootstrap-method", "--pos-label", "--weight",
    "--drop", "--trusted-type", "--overwrite", "--classes", "--task", "--score-kind",
    "--stratify", "--scheduler", "--model-name", "--beta", "--fp-cost", "--fn-cost",
    "--tp-gain", "--tn-gain", "--min-precision", "--min-recall", "--positive-rate", "--top-k",
)  # fmt: skip


def _helps() -> dict[str, dict[str, set[str]]]:
    """``flag -> help text -> commands`` over every command of the app."""
    out: dict[str, dict[str, set[str]]] = collections.defaultdict(
        lambda: collections.defaultdict(set)
    )
    group = typer.main.get_command(app)
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        for param in command.params:
            for flag in getattr(param, "opts", []):
                if flag.startswith("--"):
                    out[flag][param.help or ""].add(name)
    return out


#: Commands whose flag of a shared name means something else, so says something else.
OWN_MEANING = {
    ("--target", "bundle"),  # optional: the training data may come without it
    ("--target", "export"),
    ("--pos-label", "calibrate"),  # the class whose probability is calibrated
    ("--drop", "predict"),  # input columns to ignore, not features to leave out
    ("--overwrite", "bundle"),  # replaces a bundle (and its zip), not an --out folder
    ("--task", "compare"),  # inferred from several models
}


def test_every_shared_flag_has_one_help_text():
    helps = _helps()
    assert helps["--quiet"] and helps["--target"]  # the reading found the commands' flags
    split = {}
    for flag in SHARED:
        texts = {
            text: commands - {c for f, c in OWN_MEANING if f == flag}
            for text, commands in helps.get(flag, {}).items()
        }
        texts = {text: commands for text, commands in texts.items() if commands}
        if len(texts) > 1:
            split[flag] = texts
    assert not split, f"shared flags with several help texts: {split}"


def test_quiet_reads_the_same_everywhere_but_serve():
    texts = _helps()["--quiet"]
    assert texts["Print nothing but errors."] >= {"evaluate", "run", "monitor", "export"}
    assert set().union(*(c for t, c in texts.items() if t != "Print nothing but errors.")) == {
        "serve"
    }


def test_every_seed_refuses_a_negative_number():
    """``--seed -1`` gave numpy's traceback (exit 1) in every command; now the parser
    refuses it (exit 2), the same in each command that has a seed."""
    command = typer.main.get_command(app)
    seeded = []
    for name, sub in command.commands.items():
        for param in sub.params:
            if param.name == "seed":
                seeded.append(name)
                ctx = typer.Context(sub)
                assert param.process_value(ctx, 0) == 0
                with pytest.raises(Exception, match="greater than or equal to 0"):
                    param.process_value(ctx, -1)
    assert {"evaluate", "run", "threshold", "calibrate", "compare", "explain"} <= set(seeded)
