"""Log a report to an MLflow tracking store: metrics with interval ends, parameters, tags,
and every file of the report folder as artifacts.

``mlflow`` (the ``mlflow-skinny`` client is enough; a SQLite store also needs
``sqlalchemy`` and ``alembic``) is the ``mlflow`` extra and is imported only here. The
run is created through :class:`mlflow.tracking.MlflowClient`, so logging never changes
MLflow's global state (active run, tracking URI) in the caller's process.

What is logged, from the ``results.json`` document:

- metrics: every row of ``evaluation.metrics`` as ``<metric>`` (per class:
  ``<metric>.<class>``) with ``<name>.ci_low`` and ``<name>.ci_high`` where the interval
  is known; the metric rows of the other sections prefixed with the section
  (``thresholds.f1``, ``calibration.ece_uniform``, ``comparison.<model>.<metric>``), the
  chosen threshold (``thresholds.threshold``) and compared differences
  (``comparison.<b>_vs_<a>.<metric>.difference``);
- parameters: task, rows, classes, evaluation settings, the model type, the source
  files, and the ``params`` given (the run's options);
- tags: ``afterfit.version``, the document's schema and creation time, a run note;
- artifacts: every file under the report folder, in the same folder structure.

MLflow allows letters, digits, ``_ - . /``, spaces (and ``:`` except on Windows) in
metric and parameter names; anything else (from class labels and model names) becomes
``_``, and names are cut at 250 characters.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from afterfit.errors import AfterfitError, InvalidInputError, MissingDependencyError

#: The tracking URI used when none is given: a SQLite file in the current folder
#: (MLflow 3's own default).
DEFAULT_URI = "sqlite:///mlflow.db"
# MLflow's limits (mlflow.utils.validation): names, parameter and tag values, batch sizes.
MAX_NAME = 250
MAX_PARAM_VALUE = 6000
MAX_TAG_VALUE = 8000
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_PER_BATCH = 100
_BAD_NAME_CHARS = re.compile(r"[^\w\-. ]")
_SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")
_HEADER_KEYS = {"schema", "schema_version", "afterfit_version", "created", "source", "report",
                "evaluation"}  # fmt: skip


def log_to_mlflow(
    out_dir: str | os.PathLike[str],
    doc: Mapping[str, Any],
    *,
    uri: str | os.PathLike[str] | None = None,
    experiment: str = "afterfit",
    run_name: str | None = None,
    params: Mapping[str, Any] | None = None,
    files: Sequence[str] | None = None,
) -> str:
    """Log a written report to MLflow as one run; returns the run id.

    Parameters
    ----------
    out_dir : str or path-like
        The report folder; every file under it is logged as an artifact, keeping its
        relative path (``figures/evaluation-roc.png``...).
    doc : mapping
        The report's ``results.json`` document (what :mod:`afterfit.report.files` writes).
    uri : str or path-like, optional
        Tracking URI. Default ``sqlite:///mlflow.db`` in the current folder. ``sqlite:``,
        ``file:``, ``http(s):``, ``databricks`` and every scheme MLflow knows are passed
        on (``databricks`` alone too); a plain path ending in ``.db``, ``.sqlite`` or
        ``.sqlite3`` is a SQLite store, any other plain path a file store (``file:``
        URI). MLflow 3 refuses file stores unless ``MLFLOW_ALLOW_FILE_STORE=true``; it is
        set during this call.
    experiment : str
        Experiment name; created if missing. For a SQLite store afterfit creates it with
        its artifacts beside the database, in ``mlruns/<experiment>/``.
    run_name : str, optional
        Default ``afterfit <model file name>`` (MLflow picks a name when there is none).
    params : mapping, optional
        More parameters (the run's options); they win over those read from ``doc``.
        Values other than strings are logged as JSON.
    files : sequence of str, optional
        Log only these files (relative to ``out_dir``; ``Report.written``): a report
        folder may also hold files of the user's, which are not afterfit's to upload.

    Returns
    -------
    str
        The MLflow run id.

    Raises
    ------
    MissingDependencyError
        ``mlflow`` (or, for a SQLite store, ``sqlalchemy`` / ``alembic``) is missing.
    InvalidInputError
        ``out_dir`` is not a folder, ``doc`` is not a mapping, the URI cannot be used, the
        store lies inside ``out_dir``, or the experiment was deleted.

    Examples
    --------
    >>> run_id = log_to_mlflow("report", doc, uri="sqlite:///mlruns.db")  # doctest: +SKIP
    """
    out = Path(out_dir)
    if not out.is_dir():
        raise InvalidInputError(
            f"The report folder '{out}' does not exist or is not a folder, so there is "
            "nothing to log to MLflow.",
            fix="write the report first (afterfit run --out <folder>) and pass that folder.",
        )
    if not isinstance(doc, Mapping):
        raise InvalidInputError(
            f"The argument 'doc' must be the report's results.json document (a dict); got "
            f"a {type(doc).__name__}.",
            fix="pass json.load(open('<report>/results.json')) or the document run_report "
            "returned.",
        )
    tracking_uri = tracking_uri_for(uri)
    _check_outside(tracking_uri, out)
    # imported once the arguments are checked: mlflow takes seconds to import
    try:
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.tracking import MlflowClient
    except ImportError as exc:
        raise MissingDependencyError(
            "mlflow-skinny", "mlflow", purpose="logging to MLflow"
        ) from exc
    env = {"MLFLOW_ALLOW_FILE_STORE": "true"} if tracking_uri.startswith("file:") else {}
    with _environment(env), _quiet():
        client, experiment_id = _connect(MlflowClient, tracking_uri, experiment)
        metrics = collect_metrics(doc)
        parameters = collect_params(doc, params)
        tags = _tags(doc, out)
        source = doc.get("source") if isinstance(doc.get("source"), Mapping) else {}
        if run_name is None and source.get("model"):
            run_name = f"afterfit {Path(str(source['model'])).name}"
        try:
            run = client.create_run(experiment_id, run_name=run_name)
        except Exception as exc:
            raise _unusable(tracking_uri, exc) from exc
        run_id = run.info.run_id
        try:
            now = int(time.time() * 1000)
            items = [Metric(k, v, now, 0) for k, v in metrics.items()]
            for i in range(0, len(items), MAX_METRICS_PER_BATCH):
                client.log_batch(run_id, metrics=items[i : i + MAX_METRICS_PER_BATCH])
            plist = [Param(k, v) for k, v in parameters.items()]
            tlist = [RunTag(k, v) for k, v in tags.items()]
            for i in range(0, max(len(plist), len(tlist)), MAX_PARAMS_PER_BATCH):
                client.log_batch(run_id, params=plist[i : i + MAX_PARAMS_PER_BATCH],
                                 tags=tlist[i : i + MAX_PARAMS_PER_BATCH])  # fmt: skip
            if files is None:
                client.log_artifacts(run_id, str(out))
            for name in files or ():
                parent = str(PurePosixPath(name).parent)
                client.log_artifact(
                    run_id, str(out / name), artifact_path=None if parent == "." else parent
                )
        except Exception as exc:
            with contextlib.suppress(Exception):
                client.set_terminated(run_id, "FAILED")
            raise AfterfitError(
                f"Logging the report to the MLflow run {run_id} at '{tracking_uri}' failed: "
                f"{type(exc).__name__}: {exc}",
                fix="check that the store and its artifact location are writable; the run "
                "is marked FAILED.",
            ) from exc
        client.set_terminated(run_id, "FINISHED")
    return run_id


# --- the tracking store -------------------------------------------------------------------


def tracking_uri_for(uri: str | os.PathLike[str] | None) -> str:
    """The tracking URI to use: ``uri`` with a scheme as is; a plain path as a SQLite
    (``.db``, ``.sqlite``, ``.sqlite3``) or file store URI; None as the default SQLite
    file in the current folder, made absolute."""
    if uri is None:
        uri = DEFAULT_URI
    text = os.fspath(uri).strip()
    if not text:
        raise InvalidInputError(
            "The MLflow tracking URI is empty.",
            fix=f"pass a URI such as {DEFAULT_URI} or http://localhost:5000, or leave it out.",
        )
    if text.startswith("sqlite:///") and text[len("sqlite:///") :] not in ("", ":memory:"):
        # made absolute: the artifact location beside it must not move with the cwd
        path, sep, query = text[len("sqlite:///") :].partition("?")
        return "sqlite:///" + Path(path).resolve().as_posix() + sep + query
    # A scheme has two or more letters (a single letter is a Windows drive: C:\...);
    # "databricks" alone is MLflow's URI for the default Databricks profile
    if text == "databricks" or re.match(r"^[A-Za-z][A-Za-z0-9+.\-]+:", text):
        return text
    path = Path(text).expanduser().resolve()
    if path.suffix.lower() in _SQLITE_SUFFIXES:
        return "sqlite:///" + path.as_posix()
    return path.as_uri()


def _sqlite_path(tracking_uri: str) -> Path | None:
    if tracking_uri.startswith("sqlite:///"):
        rest = tracking_uri[len("sqlite:///") :].partition("?")[0]
        if rest and rest != ":memory:":
            return Path(rest)
    return None


def _local_store(tracking_uri: str) -> Path | None:
    """The file or folder a local store keeps its data in (None for remote stores)."""
    db = _sqlite_path(tracking_uri)
    if db is not None:
        return db
    if tracking_uri.startswith("file:"):
        from urllib.parse import unquote, urlparse

        return Path(unquote(urlparse(tracking_uri).path))
    return None


def _check_outside(tracking_uri: str, out: Path) -> None:
    store = _local_store(tracking_uri)
    if store is None:
        return
    out = out.resolve()
    place = store.parent / "mlruns" if _sqlite_path(tracking_uri) else store
    for p in (store, place):
        if p.resolve() == out or out in p.resolve().parents:
            raise InvalidInputError(
                f"The MLflow store '{tracking_uri}' lies inside the report folder '{out}': "
                "its artifacts would be logged into themselves, and the next report "
                "replaces the folder.",
                fix="keep the store outside the report folder (the default, "
                f"{DEFAULT_URI}, is in the current folder).",
            )


def _unusable(tracking_uri: str, exc: Exception) -> InvalidInputError:
    return InvalidInputError(
        f"The MLflow tracking URI '{tracking_uri}' cannot be used: "
        f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
        fix=f"pass a SQLite URI ({DEFAULT_URI}), a file: URI or folder, or the http(s) "
        "address of a running tracking server.",
    )


def _connect(client_type: Any, tracking_uri: str, experiment: str) -> tuple[Any, str]:
    """A client and the experiment's id (created if missing)."""
    if not isinstance(experiment, str) or not experiment.strip():
        raise InvalidInputError(
            f"The MLflow experiment name must be a non-empty string; got {experiment!r}.",
            fix="pass experiment='afterfit' or another name.",
        )
    try:
        client = client_type(tracking_uri=tracking_uri)
        found = client.get_experiment_by_name(experiment)
    except ImportError as exc:  # the SQL store's sqlalchemy / alembic
        name = getattr(exc, "name", None) or "sqlalchemy"
        raise MissingDependencyError(name, "mlflow", purpose="an MLflow SQL store") from exc
    except Exception as exc:
        raise _unusable(tracking_uri, exc) from exc
    if found is not None:
        if getattr(found, "lifecycle_stage", "active") == "deleted":
            raise InvalidInputError(
                f"The MLflow experiment '{experiment}' at '{tracking_uri}' was deleted.",
                fix="restore it (mlflow experiments restore) or pass another experiment name.",
            )
        return client, found.experiment_id
    db = _sqlite_path(tracking_uri)
    # beside the database, not in the current folder (MLflow's default for SQL stores)
    location = None if db is None else (db.parent / "mlruns" / _part(experiment)).as_uri()
    try:
        return client, client.create_experiment(experiment, artifact_location=location)
    except Exception as exc:
        raise _unusable(tracking_uri, exc) from exc


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """MLflow logs INFO lines (database creation, migrations) and warns about its file
    store; none of it is the user's business during a report."""
    loggers = [logging.getLogger(n) for n in ("mlflow", "alembic", "sqlalchemy")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning, module=r"mlflow(\.|$)")
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"mlflow(\.|$)")
            yield
    finally:
        for lg, level in zip(loggers, levels, strict=True):
            lg.setLevel(level)


# --- what is logged -----------------------------------------------------------------------


def _part(value: Any) -> str:
    """One part of a metric or parameter name, with MLflow's allowed characters only."""
    return _BAD_NAME_CHARS.sub("_", str(value)).strip() or "_"


def _key(*parts: Any) -> str:
    return ".".join(_part(p) for p in parts)[:MAX_NAME]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


class _Collector:
    """Metrics by name; a clash between different values gets a numbered name."""

    def __init__(self) -> None:
        self.values: dict[str, float] = {}

    def add(self, name: str, value: Any) -> str | None:
        """Add a finite value; returns the name it got (None if not a finite number)."""
        number = _number(value)
        if number is None:
            return None
        key, i = name, 2
        while key in self.values and self.values[key] != number:
            suffix = f"_{i}"
            key, i = name[: MAX_NAME - len(suffix)] + suffix, i + 1
        self.values[key] = number
        return key

    def interval(self, name: str, value: Any, low: Any, high: Any) -> None:
        """A value and its interval ends, as ``<name>.ci_low`` / ``<name>.ci_high``."""
        key = self.add(name, value)
        if key is not None:
            self.add(_key_join(key, "ci_low"), low)
            self.add(_key_join(key, "ci_high"), high)

    def rows(self, rows: Any, *prefix: Any) -> None:
        """Metric rows ``{metric, value, ci_low, ci_high}`` with optional ``class`` and
        ``model``."""
        if not isinstance(rows, list):
            return
        for row in rows:
            if not isinstance(row, Mapping) or "metric" not in row or "value" not in row:
                continue
            parts = [*prefix]
            if row.get("model") is not None:
                parts.append(row["model"])
            parts.append(row["metric"])
            if row.get("class") is not None:
                parts.append(row["class"])
            self.interval(_key(*parts), row.get("value"), row.get("ci_low"), row.get("ci_high"))


def _key_join(name: str, last: str) -> str:
    return (name[: MAX_NAME - len(last) - 1] + "." + last) if name else last


def _pair(values: Any) -> tuple[Any, Any]:
    if isinstance(values, list | tuple) and len(values) == 2:
        return values[0], values[1]
    return None, None


def collect_metrics(doc: Mapping[str, Any]) -> dict[str, float]:
    """The metrics :func:`log_to_mlflow` logs, by name (finite values only).

    ``evaluation.metrics`` rows as ``<metric>`` / ``<metric>.<class>`` with
    ``.ci_low`` / ``.ci_high``; for every other section, its ``metrics`` rows prefixed
    with the section name, its ``threshold`` (with ``threshold_ci``), per-class
    selections (``<section>.<class>.threshold``...), compared models' metrics
    (``model_metrics``) and pairwise differences (``comparisons``).
    """
    c = _Collector()
    evaluation = doc.get("evaluation")
    if isinstance(evaluation, Mapping):
        c.rows(evaluation.get("metrics"))
    for name, section in doc.items():
        if name in _HEADER_KEYS or not isinstance(section, Mapping):
            continue
        _section(c, section, (name,))
        for item in section.get("per_class") or []:
            if isinstance(item, Mapping):
                _section(c, item, (name, item.get("class")))
        c.rows(section.get("model_metrics"), name)
        for row in section.get("comparisons") or []:
            if isinstance(row, Mapping) and row.get("metric") is not None:
                pair = f"{row.get('model_b')}_vs_{row.get('model_a')}"
                key = _key(name, pair, row["metric"], "difference")
                c.interval(key, row.get("difference"), row.get("ci_low"), row.get("ci_high"))
                c.add(_key(name, pair, row["metric"], "p_holm"), row.get("p_holm"))
    return c.values


def _section(c: _Collector, section: Mapping[str, Any], prefix: tuple[Any, ...]) -> None:
    c.rows(section.get("metrics"), *prefix)
    if "threshold" in section:
        low, high = _pair(section.get("threshold_ci"))
        c.interval(_key(*prefix, "threshold"), section.get("threshold"), low, high)


def _param_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= MAX_PARAM_VALUE else text[: MAX_PARAM_VALUE - 1] + "…"


def collect_params(
    doc: Mapping[str, Any], extra: Mapping[str, Any] | None = None
) -> dict[str, str]:
    """The parameters :func:`log_to_mlflow` logs: task, rows, classes, the evaluation
    settings (``settings.<name>``), the model type, the source files (``source.<name>``),
    then ``extra`` (which wins). Values other than strings as JSON; None left out."""
    found: dict[str, Any] = {}
    evaluation = doc.get("evaluation") if isinstance(doc.get("evaluation"), Mapping) else {}
    report = doc.get("report") if isinstance(doc.get("report"), Mapping) else {}
    for k in ("task", "n_rows", "weighted", "classes", "positive_label", "threshold",
              "scores_are_probabilities"):  # fmt: skip
        if evaluation.get(k) is not None:
            found[k] = evaluation[k]
    for k, v in (evaluation.get("settings") or {}).items():
        found[f"settings.{k}"] = v
    for k in ("task", "n_rows", "classes"):
        if report.get(k) is not None:
            found.setdefault(k, report[k])
    if report.get("model"):
        found["model_type"] = report["model"]
    if report.get("sections"):
        found["sections"] = report["sections"]
    source = doc.get("source") if isinstance(doc.get("source"), Mapping) else {}
    for k, v in source.items():
        if v is not None:
            found[f"source.{k}"] = v
    for k, v in (extra or {}).items():
        found[str(k)] = v
    out: dict[str, str] = {}
    for k, v in found.items():
        if v is not None:  # an option left out is no parameter
            out[_key(*str(k).split("."))] = _param_value(v)
    return out


def _tags(doc: Mapping[str, Any], out: Path) -> dict[str, str]:
    from afterfit._version import __version__

    tags = {
        "afterfit.version": str(doc.get("afterfit_version") or __version__),
        "afterfit.schema": str(doc.get("schema", "")),
        "afterfit.schema_version": str(doc.get("schema_version", "")),
        "afterfit.created": str(doc.get("created", "")),
        "afterfit.report_folder": str(out.resolve()),
        "mlflow.source.name": "afterfit",
        "mlflow.note.content": _note(doc),
    }
    return {k: v[:MAX_TAG_VALUE] for k, v in tags.items() if v}


def _note(doc: Mapping[str, Any]) -> str:
    """The run's description in the MLflow UI: what was evaluated, headline, findings."""
    report = doc.get("report") if isinstance(doc.get("report"), Mapping) else {}
    source = doc.get("source") if isinstance(doc.get("source"), Mapping) else {}
    lines = ["afterfit report"]
    if source.get("model"):
        lines[0] += f" of {source['model']}"
    if source.get("data"):
        lines[0] += f" on {source['data']}"
    for h in report.get("headline") or []:
        if isinstance(h, Mapping) and _number(h.get("value")) is not None:
            ci = ""
            if _number(h.get("ci_low")) is not None and _number(h.get("ci_high")) is not None:
                ci = f" [{h['ci_low']:.4g}, {h['ci_high']:.4g}]"
            lines.append(f"- {h.get('name')}: {h['value']:.4g}{ci}")
    for f in report.get("findings") or []:
        if isinstance(f, Mapping) and f.get("text"):
            lines.append(f"- {f.get('severity', 'warning')}: {f['text']}")
    return "\n".join(lines)
