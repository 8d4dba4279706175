"""Model registry: lab 03's registry against MLflow 3.17's Model Registry, both on SQLite.

The same model on both sides: the lab's spam filter, a logistic regression over 2^14 hashed
features (its weights, ``weights.npz``, written by ``prepare``). Each round runs in a fresh
process with a fresh database; set-up (schema, users, a warm-up registration) is not timed.

* ``register``: one version = the artifact written plus its metadata. Ours: ``Registry.register``
  (safetensors bytes put with fsync and rename, then one transaction for the version, its
  params, metrics, dataset hashes and audit entry). MLflow: ``start_run`` + ``log_params`` +
  ``log_metrics`` + ``mlflow.sklearn.log_model`` + ``mlflow.register_model``, either with
  explicit ``pip_requirements`` or with MLflow's default (it infers them, which is slow).
* ``resolve``: alias -> version. Ours ``Registry.resolve``; MLflow
  ``MlflowClient.get_model_version_by_alias``.
* ``load``: a usable model by alias. Ours: resolve, read and verify the artifact, parse the
  safetensors arrays, read the version's params; MLflow ``mlflow.sklearn.load_model("models:/
  name@champion")``.
* ``concurrent``: 8 processes register 100 versions each at once (the op of ``register``).
  ``seconds`` is the **worst** registration latency; metrics count lost and doubled versions
  and errors, and give the median latency and the wall time.

``seconds`` is the median latency of one operation over the round's ``n`` (for ``concurrent``:
the worst). Versions get distinct weights (one element changes), so no side deduplicates.
"""

from __future__ import annotations

import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ANCHOR = "mlflow"
TITLE = ("Model registry on SQLite: register, resolve an alias, load by alias, 8 writers "
         "(ours vs MLflow 3.17)")
SIDES = ("ours", "anchor")
ROOT = Path(__file__).resolve().parents[1]
MODEL = "spam-filter"
N_FEATURES = 2**14
PARAMS = {"threshold": 0.5, "label_model": "gold", "n_features": N_FEATURES}
METRICS = {"valid_accuracy": 0.9, "valid_spam_caught": 0.857, "valid_ham_flagged": 0.0625}


def cases(quick: bool) -> list[dict[str, Any]]:
    if quick:  # the load case covers resolving an alias too
        return [{"op": "register", "n": 3, "requirements": "explicit", "label": "register (quick)"},
                {"op": "load", "n": 3, "label": "load by alias (quick)"},
                {"op": "concurrent", "processes": 2, "each": 3, "label": "2 x 3 writers (quick)"}]
    return [
        {"op": "register", "n": 40, "requirements": "explicit",
         "label": "register (MLflow: explicit requirements)"},
        {"op": "register", "n": 3, "requirements": "inferred",
         "label": "register (MLflow's default: inferred)"},
        {"op": "resolve", "n": 1000, "label": "resolve an alias"},
        {"op": "load", "n": 50, "label": "load a model by alias"},
        {"op": "concurrent", "processes": 8, "each": 100,
         "label": "8 x 100 writers: worst latency"},
    ]


def prepare(case: dict[str, Any], workdir: str) -> dict[str, Any]:
    """The spam filter's weights (seeded), shared by both sides."""
    path = Path(workdir) / "weights.npz"
    if not path.exists():
        rng = np.random.default_rng(0)
        np.savez(path, coef=rng.normal(0, 0.3, (1, N_FEATURES)).astype(np.float32),
                 intercept=np.array([-0.2], dtype=np.float32))
    return {**case, "weights": str(path)}


def _weights(case: dict[str, Any], i: int) -> dict[str, np.ndarray]:
    with np.load(case["weights"], allow_pickle=False) as data:
        coef, intercept = data["coef"].copy(), data["intercept"].copy()
    coef[0, i % N_FEATURES] += 1e-3 * (i + 1)  # a distinct artifact per version
    return {"coef": coef, "intercept": intercept}


def _timed(fn, n: int) -> list[float]:
    out = []
    for i in range(n):
        start = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - start)
    return out


def _summary(latencies: list[float], **extra: Any) -> dict[str, Any]:
    ordered = sorted(latencies)
    p99 = ordered[int(0.99 * (len(ordered) - 1))]
    return {"seconds": statistics.median(ordered), "p99_ms": 1e3 * p99,
            "max_ms": 1e3 * ordered[-1], "n": len(ordered), **extra}


# ---------------------------------------------------------------------- ours
def _lab() -> Any:
    from mlsys_edu.lab.source import load_solution_module

    return load_solution_module(ROOT / "labs" / "03_model_management" / "lab.py")


def _our_registry(lab: Any, folder: str) -> tuple[Any, str, str]:
    url, store = f"sqlite:///{folder}/registry.db", f"{folder}/artifacts"
    registry = lab.Registry(url, store)
    for name, role in (("alice", "author"), ("bob", "reviewer"), ("dave", "operator")):
        registry.add_user(name, [role])
    registry.create_model(MODEL, by="alice")
    return registry, url, store


def _run_ours(case: dict[str, Any], folder: str) -> dict[str, Any]:
    import hashlib

    lab = _lab()
    registry, url, store = _our_registry(lab, folder)
    datasets = {s: hashlib.sha256(s.encode()).hexdigest() for s in ("train", "valid", "test")}

    def register(i: int) -> int:
        return registry.register(MODEL, lab.save_weights(_weights(case, i)), by="alice",
                                 params=PARAMS, metrics=METRICS, datasets=datasets, code="c" * 64)

    register(-1)  # warm-up, not timed
    op = case["op"]
    if op == "register":
        return _summary(_timed(register, case["n"]))
    if op == "concurrent":
        start = time.perf_counter()
        runs = lab.register_from_processes(lab.Registry, url, store, MODEL, "alice",
                                           case["processes"], case["each"])
        wall = time.perf_counter() - start
        versions = [v for run in runs for v in run["versions"]]
        latencies = [s for run in runs for s in run["seconds"]]
        return _concurrency_result(versions, latencies, [], wall, case, first=2)
    registry.review(registry.request_review(MODEL, 1, by="alice"), by="bob", approve=True)
    registry.set_alias(MODEL, "champion", 1, by="dave")
    if op == "resolve":
        return _summary(_timed(lambda i: registry.resolve(MODEL, "champion"), case["n"]))

    def load(i: int) -> None:
        version = registry.resolve(MODEL, "champion")
        arrays = lab.load_weights(registry.load(MODEL, version))
        params = registry.version(MODEL, version)["params"]
        assert arrays["coef"].shape == (1, N_FEATURES) and params["threshold"] == 0.5

    return _summary(_timed(load, case["n"]))


def _concurrency_result(versions: list[int], latencies: list[float], errors: list[str],
                        wall: float, case: dict[str, Any], first: int) -> dict[str, Any]:
    want = case["processes"] * case["each"]
    expected = set(range(first, first + want))
    return {"seconds": max(latencies) if latencies else float("nan"),
            "p50_ms": 1e3 * statistics.median(latencies) if latencies else float("nan"),
            "wall_s": wall, "registered": len(versions),
            "lost": want - len(set(versions) & expected),
            "doubled": len(versions) - len(set(versions)), "errors": len(errors),
            "first_error": errors[0][:200] if errors else ""}


# ---------------------------------------------------------------------- MLflow
def _mlflow_setup(folder: str) -> tuple[Any, Any]:
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    import mlflow

    logging.getLogger("mlflow").setLevel(logging.ERROR)
    mlflow.set_tracking_uri(f"sqlite:///{folder}/mlflow.db")
    name = "registry-benchmark"
    experiment = mlflow.get_experiment_by_name(name)
    experiment_id = experiment.experiment_id if experiment else mlflow.create_experiment(
        name, artifact_location=Path(folder, "artifacts").as_uri())
    mlflow.set_experiment(experiment_id=experiment_id)
    return mlflow, mlflow.MlflowClient()


def _sklearn_model(weights: dict[str, np.ndarray]) -> Any:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression()
    model.classes_ = np.array([0, 1])
    model.coef_, model.intercept_ = weights["coef"], weights["intercept"]
    return model


def _mlflow_register(mlflow: Any, case: dict[str, Any], i: int) -> str:
    import sklearn

    requirements = ([f"scikit-learn=={sklearn.__version__}"]
                    if case.get("requirements", "explicit") == "explicit" else None)
    with mlflow.start_run():
        mlflow.log_params({**PARAMS, "train_sha256": "t" * 64})
        mlflow.log_metrics(METRICS)
        info = mlflow.sklearn.log_model(_sklearn_model(_weights(case, i)), name="model",
                                        pip_requirements=requirements)
    return mlflow.register_model(info.model_uri, MODEL).version


def _mlflow_writer(folder: str, case: dict[str, Any], i: int, ready: int, gate: int,
                   out: str) -> None:
    """One of the concurrent MLflow writers, in a forked child that imported nothing yet."""
    versions, latencies, errors = [], [], []
    try:
        mlflow, client = _mlflow_setup(folder)
        client.get_registered_model(MODEL)  # connected
        os.write(ready, b"x")
        os.read(gate, 1)  # the barrier: all writers start together
        for j in range(case["each"]):
            start = time.perf_counter()
            try:
                versions.append(int(_mlflow_register(mlflow, case, 1000 * (i + 1) + j)))
                latencies.append(time.perf_counter() - start)
            except Exception as err:  # noqa: BLE001 - counted and reported, as MLflow's errors
                errors.append(f"{type(err).__name__}: {err}")
    finally:
        Path(out).write_text(json.dumps({"versions": versions, "seconds": latencies,
                                         "errors": errors}))
        os._exit(0)


def _run_mlflow(case: dict[str, Any], folder: str) -> dict[str, Any]:
    op = case["op"]
    if op == "concurrent":
        return _run_mlflow_concurrent(case, folder)
    mlflow, client = _mlflow_setup(folder)
    client.create_registered_model(MODEL)
    _mlflow_register(mlflow, case, -1)  # warm-up: migrations, lazy imports; not timed
    if op == "register":
        return _summary(_timed(lambda i: _mlflow_register(mlflow, case, i), case["n"]))
    client.set_registered_model_alias(MODEL, "champion", "1")
    if op == "resolve":
        return _summary(_timed(lambda i: client.get_model_version_by_alias(MODEL, "champion"),
                               case["n"]))

    def load(i: int) -> None:
        model = mlflow.sklearn.load_model(f"models:/{MODEL}@champion")
        assert model.coef_.shape == (1, N_FEATURES)

    return _summary(_timed(load, case["n"]))


def _run_mlflow_concurrent(case: dict[str, Any], folder: str) -> dict[str, Any]:
    """Set up in one forked child, then fork the writers before this process imports MLflow
    (a forked SQLAlchemy engine would share its connections)."""
    pid = os.fork()
    if pid == 0:
        try:
            mlflow, client = _mlflow_setup(folder)
            client.create_registered_model(MODEL)
            _mlflow_register(mlflow, case, -1)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    (gate_read, gate_write), (ready_read, ready_write) = os.pipe(), os.pipe()
    outs, pids = [str(Path(folder, f"writer{i}.json")) for i in range(case["processes"])], []
    for i, out in enumerate(outs):
        pid = os.fork()
        if pid == 0:
            os.close(gate_write)
            _mlflow_writer(folder, case, i, ready_write, gate_read, out)
        pids.append(pid)
    for _ in pids:  # every writer has imported MLflow and connected
        os.read(ready_read, 1)
    start = time.perf_counter()
    os.close(gate_write)
    for pid in pids:
        os.waitpid(pid, 0)
    wall = time.perf_counter() - start
    runs = [json.loads(Path(out).read_text()) for out in outs]
    versions = [v for run in runs for v in run["versions"]]
    return _concurrency_result(versions, [s for run in runs for s in run["seconds"]],
                               [e for run in runs for e in run["errors"]], wall, case, first=2)


def run(side: str, case: dict[str, Any]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"registry-bench-{side}-") as folder:
        if side == "ours":
            return _run_ours(case, folder)
        if side == "anchor":
            return _run_mlflow(case, folder)
    raise ValueError(f"unknown side {side!r}; expected one of {SIDES}")
