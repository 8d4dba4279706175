"""Declarative ML: lab 06's schema compiler against Ludwig on the spam filter's split.

The split is the Snorkel tutorial's (``mlsys_edu.data.youtube_spam``): train = videos 1-4
(1,586 comments), valid (120) and test (250) from video 5. Both sides are trained on the same
supervision, the gold labels of the training comments (``load_youtube_spam``), and read the
same four inputs: the comment's text, its author and video as categories, its date.

* ours: the lab's reference solution (``compile_schema`` and ``train_model``) on the schema
  :data:`OUR_SCHEMA`, featurized by ``labkit.payloads.Featurizer``; fixed 100 full-batch
  steps, the lab's setting.
* anchor: Ludwig (``LudwigModel``) with :data:`LUDWIG_CONFIG`: the same inputs with Ludwig's
  default encoders (text: parallel CNN), a binary output, the ``fixed`` split from a
  ``split`` column, and Ludwig's default trainer (up to 100 epochs, early stopping on the
  validation rows).

Measured: ``seconds`` = training (featurizing or preprocessing included, interpreter and
library start-up excluded), test accuracy and per-slice accuracy (the same slice definitions
on both sides), inference latency per comment (one comment per call, median), lines of
config (both written as block-style YAML, blank lines and comments not counted).
"""

from __future__ import annotations

import json
import os
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

ANCHOR = "ludwig"
TITLE = "Declarative ML: lab 06's schema compiler vs Ludwig 0.11.0, spam filter (videos 1-4 -> 5)"
ROOT = Path(__file__).resolve().parents[1]
LAB = "06_declarative_ml"
SEED = 0

#: Our schema, as a Ludwig user would write it: payloads named by their columns, the combiner
#: over every input by default, the task supervised by the gold column of its name.
OUR_SCHEMA = """\
payloads:
- name: text
  type: sequence
- name: author
  type: category
- name: video
  type: category
- name: date
  type: date
- name: comment
  type: singleton
tasks:
- name: label
  classes: [ham, spam]
"""

#: Ludwig's config for the same job: the same inputs, defaults everywhere else.
LUDWIG_CONFIG = """\
input_features:
- name: text
  type: text
- name: author
  type: category
- name: video
  type: category
- name: date
  type: date
output_features:
- name: label
  type: binary
preprocessing:
  split:
    type: fixed
    column: split
"""

#: Slices reported on the test set: name -> regular expression on the text, or a word count.
SLICES = {"link": r"https?://|www\.|\.com\b", "shouting": r"[A-Z]{5}", "song": r"\bsong\b",
          "short_comment": ("words<=", 5), "long_comment": ("words>=", 30)}
LATENCY_COMMENTS = 40


def cases(quick: bool) -> list[dict[str, Any]]:
    """The full split; quick: 200 training comments and 20 steps (our side only)."""
    if quick:
        return [{"label": "toy: 200 train comments", "n_train": 200, "steps": 20}]
    return [{"label": "tutorial split, gold labels", "n_train": None, "steps": 100}]


def prepare(case: dict[str, Any], workdir: str) -> dict[str, Any]:
    """Write the comments with a ``split`` column (0 train, 1 valid, 2 test) and both configs."""
    import pandas as pd

    from mlsys_edu.data import load_youtube_spam, youtube_spam

    splits = youtube_spam()
    labels = load_youtube_spam().drop_duplicates("comment_id").set_index("comment_id")["label"]
    train = splits.train.assign(label=labels.loc[splits.train["comment_id"]].to_numpy())
    if case["n_train"]:
        train = train.iloc[:case["n_train"]]
    frames = [f.assign(split=i) for i, f in enumerate((train, splits.valid, splits.test))]
    data = pd.concat(frames, ignore_index=True)
    data["date"] = data["date"].dt.strftime("%Y-%m-%d %H:%M:%S").fillna("")
    data["video"] = data["video"].astype(str)
    out = Path(workdir)
    data[["text", "author", "video", "date", "label", "split"]].to_csv(out / "comments.csv",
                                                                      index=False)
    (out / "ours.yaml").write_text(OUR_SCHEMA, encoding="utf-8")
    (out / "ludwig.yaml").write_text(LUDWIG_CONFIG, encoding="utf-8")
    return {**case, "data": str(out / "comments.csv"), "ours": str(out / "ours.yaml"),
            "ludwig": str(out / "ludwig.yaml"), "workdir": str(out)}


def config_lines(text: str) -> int:
    """Non-blank, non-comment lines of a YAML file."""
    return sum(1 for line in text.splitlines() if line.strip() and not line.strip().startswith("#"))


def slice_masks(texts: list[str]) -> dict[str, np.ndarray]:
    """Membership of each :data:`SLICES` slice, computed alike on both sides."""
    masks = {}
    for name, rule in SLICES.items():
        if isinstance(rule, str):
            masks[name] = np.array([bool(re.search(rule, t)) for t in texts])
        else:
            words = np.array([len(re.findall(r"[A-Za-z0-9']+", t)) for t in texts])
            masks[name] = words <= rule[1] if rule[0] == "words<=" else words >= rule[1]
    return masks


def _metrics(texts: list[str], y: np.ndarray, pred: np.ndarray) -> dict[str, float]:
    out = {"test_accuracy": float(np.mean(pred == y))}
    for name, mask in slice_masks(texts).items():
        out[f"acc_{name}"] = float(np.mean(pred[mask] == y[mask])) if mask.any() else float("nan")
        out[f"n_{name}"] = int(mask.sum())
    return out


def _warm_torch() -> None:
    """Torch's first backward pass loads lazy modules (seconds on a loaded machine): start-up,
    not training; both sides pay it before their clock starts."""
    import torch

    layer = torch.nn.Linear(3, 2)
    torch.optim.AdamW(layer.parameters()).zero_grad()
    layer(torch.randn(4, 3)).sum().backward()


def _read(case: dict[str, Any]):
    import pandas as pd

    data = pd.read_csv(case["data"], keep_default_na=False, dtype={"video": str})
    return data, data[data.split == 0], data[data.split == 2]


def _ours(case: dict[str, Any]) -> dict[str, float]:
    import torch

    from mlsys_edu.lab.source import load_solution_module
    from mlsys_edu.labkit.declarative import parse_schema
    from mlsys_edu.labkit.payloads import Featurizer

    import scipy.sparse  # noqa: F401 - imported here, not in the timed region (as Ludwig's)
    import sklearn.feature_extraction.text  # noqa: F401

    torch.set_num_threads(1)  # the comparison is on one core for both sides (see _ludwig)
    lab = load_solution_module(ROOT / "labs" / LAB / "lab.py")
    data, train, test = _read(case)
    for frame in (train, test):
        frame["date"] = frame["date"].replace("", None)
    schema = parse_schema(Path(case["ours"]).read_text(encoding="utf-8"))
    _warm_torch()
    start = time.perf_counter()
    featurizer = Featurizer(schema).fit_vocabularies(train)
    batch = featurizer.transform(train)
    targets = np.eye(2)[train["label"].to_numpy()]
    model = lab.compile_schema(schema, featurizer, seed=SEED)
    lab.train_model(model, batch, targets, np.zeros((len(train), 0), bool), task="label",
                    steps=case["steps"], seed=SEED)
    trained = time.perf_counter()
    with torch.no_grad():
        pred = model(featurizer.transform(test))["label"]["logits"].argmax(1).numpy()
    latencies = []
    with torch.no_grad():
        for i in range(min(LATENCY_COMMENTS, len(test))):
            t0 = time.perf_counter()
            model(featurizer.transform(test.iloc[i:i + 1]))["label"]["logits"].argmax(1)
            latencies.append(time.perf_counter() - t0)
    return {"seconds": trained - start, "latency_ms": 1000 * float(np.median(latencies)),
            "config_lines": config_lines(Path(case["ours"]).read_text(encoding="utf-8")),
            **_metrics(test["text"].tolist(), test["label"].to_numpy(), pred)}


def _load_ludwig() -> Any:
    """Import Ludwig, whose image and audio features import torchvision and torchaudio.

    PyPI's torchvision 0.28 and torchaudio 2.11 wheels are CUDA builds; next to the CPU
    build of torch 2.13 their C++ extensions cannot load (libc10_cuda.so is missing), and
    torchvision 0.28 then fails at import on two unguarded operator registrations. Neither
    extension is used by text, category, date or binary features: define the two operators'
    schemas so that torchvision imports without its extension, and give Ludwig a torchaudio
    module that has only a version (any audio use raises).
    """
    import importlib.machinery
    import importlib.metadata
    import sys
    import types

    import torch

    try:
        import torchvision  # noqa: F401
    except Exception:  # noqa: BLE001 - the CUDA build's import error, see above
        for name in [m for m in sys.modules if m.startswith("torchvision")]:
            del sys.modules[name]
        library = torch.library.Library("torchvision", "DEF")
        for op in ("nms", "qnms"):
            library.define(f"{op}(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        _load_ludwig.keep = library  # the definitions live as long as the library object
    try:
        import torchaudio  # noqa: F401
    except Exception:  # noqa: BLE001
        audio = types.ModuleType("torchaudio")
        audio.__version__ = importlib.metadata.version("torchaudio")
        audio.__spec__ = importlib.machinery.ModuleSpec("torchaudio", None)

        def unavailable(name: str) -> Any:
            raise AttributeError(f"torchaudio.{name}: its C++ extension cannot load next to "
                                 "the CPU build of torch; audio features are unavailable")

        audio.__getattr__ = unavailable
        sys.modules["torchaudio"] = audio
    import ludwig.api

    return ludwig.api


def _ludwig(case: dict[str, Any]) -> dict[str, float]:
    import logging

    import torch
    import yaml

    torch.set_num_threads(1)
    api = _load_ludwig()
    data, train, test = _read(case)
    data = data.assign(label=data["label"].astype(bool))
    config = yaml.safe_load(Path(case["ludwig"]).read_text(encoding="utf-8"))
    out_dir = str(Path(case["workdir"]) / "ludwig-results")
    os.chdir(case["workdir"])  # Ludwig writes a preprocessing lock file into the cwd
    _warm_torch()
    start = time.perf_counter()
    model = api.LudwigModel(config, logging_level=logging.ERROR, backend="local")
    model.train(dataset=data, output_directory=out_dir, random_seed=SEED,
                skip_save_training_description=True, skip_save_training_statistics=True,
                skip_save_model=True, skip_save_progress=True, skip_save_log=True,
                skip_save_processed_input=True)
    trained = time.perf_counter()
    test_frame = data[data.split == 2]
    pred, _ = model.predict(dataset=test_frame, skip_save_unprocessed_output=True,
                            skip_save_predictions=True, output_directory=out_dir)
    latencies = []
    for i in range(min(LATENCY_COMMENTS, len(test_frame))):
        t0 = time.perf_counter()
        model.predict(dataset=test_frame.iloc[i:i + 1], skip_save_unprocessed_output=True,
                      skip_save_predictions=True, output_directory=out_dir)
        latencies.append(time.perf_counter() - t0)
    y = test_frame["label"].to_numpy().astype(int)
    predicted = pred["label_predictions"].to_numpy().astype(bool).astype(int)
    return {"seconds": trained - start, "latency_ms": 1000 * float(np.median(latencies)),
            "config_lines": config_lines(Path(case["ludwig"]).read_text(encoding="utf-8")),
            **_metrics(test_frame["text"].tolist(), y, predicted)}


def run(side: str, case: dict[str, Any]) -> dict[str, float]:
    if side == "ours":
        return _ours(case)
    if side == "anchor":
        return _ludwig(case)
    raise ValueError(f"unknown side {side!r}; expected 'ours' or 'anchor'")


if __name__ == "__main__":  # a quick look without the harness: python benchmarks/declarative.py
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(run("ours", prepare(cases(True)[0], tmp)), indent=2))
