# %% [markdown]
# # Lab 03: Model management
#
# Several people now ship the spam filter. Which model serves now? What data and code made
# it? Who approved it? Can we go back, exactly? You will build a small but real **model
# registry** (the anchor: MLflow's Model Registry) that answers these questions while people
# write at once and processes die halfway:
#
# 1. a **content-addressed artifact store**, written atomically, verified on every read;
# 2. **versions** in SQL, numbered without gaps or duplicates, with lineage, search, diff;
# 3. **people**: reviews, a `champion` alias only an approved version may take, rollback;
# 4. **proof**: concurrent writers, `SIGKILL`ed processes, a web view, PostgreSQL.
#
# Given plumbing, from `mlsys_edu.labkit`: `registry_db` (a database URL to a connection),
# `registry_base` (the schema; base classes that open, read, add users, models, review
# requests, comments, and keep the audit log), `processes` (forked writers and crashes),
# `registry_web` (the web view, the model card) and `weak_labels`.

# %% tags=["export"]
import contextlib
import hashlib
import math
import os
import tempfile
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from safetensors.numpy import load as load_weights, save as save_weights

from mlsys_edu.labkit.processes import (CRASH_POINTS, crash_while_registering,
                                        crash_while_storing, register_from_processes)
from mlsys_edu.labkit.registry_base import (ALIAS_RE, SCHEMA, SHA256_RE, AliasConflict,
                                            ArtifactCorrupt, ArtifactError, ArtifactMissing,
                                            RegistryBase, StoreBase, add_to_class, audit_hash,
                                            canonical_json, default_store, flip_byte, fsync_dir,
                                            scratch_dir, utc_now)
from mlsys_edu.labkit.registry_web import lineage_svg, model_card, serve_registry


# %% [markdown]
# ## Part 1: a content-addressed artifact store
#
# An artifact (a model's weights) lives under the hash of its bytes, $\mathrm{id}(a) =
# \mathrm{SHA256}(a)$, at `objects/ab/cdef...` (`StoreBase.path`, given): **immutable** (an
# id always means the same bytes), **deduplicated** (equal weights are stored once) and
# **checked** (re-hashing on read catches a flipped bit). By the birthday bound, $N$
# artifacts collide with probability at most $N^2 / 2^{257}$, below $10^{-50}$ for $N =
# 10^{12}$. A write must be **atomic**: a reader, or a process restarting after a crash, sees
# the whole file or nothing. So (1) write a temporary file in `tmp/`, on the same file
# system; (2) `fsync` it (`write` only reaches the kernel's cache); (3) `os.replace` it onto
# its name, an atomic rename; (4) `fsync` the **folder** (`fsync_dir`, given): the new name is
# an entry of the folder, durable once the folder is. A crash leaves at worst a stray file in
# `tmp/`, never a partial file under a real name.
#
# ## Exercise 3.1: `put` and `get`
#
# Write `put(data)`: store the bytes, return their hex digest; write nothing when the object
# exists intact, replace it when it exists corrupted. Write `get(digest)`: read, re-hash, and
# raise `ArtifactMissing` or `ArtifactCorrupt` (given) with a message naming the digest, the
# path and what to do. Never return bytes that fail the hash.

# %% tags=["export"]
class ArtifactStore(StoreBase):
    """Bytes named by their SHA-256, written atomically and verified on every read."""

    def put(self, data: bytes) -> str:
        """Store ``data`` (once) and return its SHA-256 hex digest."""
        # BEGIN SOLUTION 3.1
        digest = hashlib.sha256(data).hexdigest()
        final = self.path(digest)
        if os.path.exists(final):
            try:
                self.get(digest)
                return digest  # stored already and intact: deduplicated
            except ArtifactCorrupt:
                pass  # overwrite it with the good bytes we hold
        fd, tmp = tempfile.mkstemp(dir=self.tmp)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, final)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        fsync_dir(os.path.dirname(final))
        return digest
        # END SOLUTION

    def get(self, digest: str) -> bytes:
        """The bytes named ``digest``, verified."""
        # BEGIN SOLUTION 3.1
        path = self.path(digest)
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise ArtifactMissing(f"artifact {digest} is missing: no file {path}; restore it "
                                  "from a backup or register the model again") from None
        actual = hashlib.sha256(data).hexdigest()
        if actual != digest:
            raise ArtifactCorrupt(f"artifact {digest} is corrupted: {path} hashes to {actual}; "
                                  "restore it from a backup, or put() the original bytes again")
        return data
        # END SOLUTION


# %%
check("q1")

# %% [markdown]
# ## Part 2: versions in a database
#
# Metadata lives in SQL: SQLite (one file, the embedded default, as MLflow's is) or
# PostgreSQL (Part 5), one `SCHEMA` for both. A **registered model** keeps a counter
# `last_version`; a **version** points at an artifact and records its **lineage**: the
# SHA-256 of each dataset it was trained or evaluated on, a hash of its code, parameters,
# metrics, parent. **Aliases** (`champion`) are mutable pointers to immutable versions. Each
# change appends to `audit_log`, kept append-only by triggers in the database itself.

# %%
print(SCHEMA.split(";")[3].strip())

# %% [markdown]
# **Writers at once.** Eight people registering versions of one model at the same moment
# must each get their own number. "Read the largest, add one, insert" races: two writers
# read 41 and both insert 42. The read must happen under a lock taken *before* it:
#
# - **SQLite** has one writer per database. `BEGIN IMMEDIATE` takes the write lock when the
#   transaction starts, so nothing we read changes before `COMMIT`; other writers wait at
#   theirs. (A plain `BEGIN` locks at the first write: two transactions that both read
#   first deadlock, "database is locked".)
# - **PostgreSQL** runs writers side by side and locks only the rows a statement changes.
#   So `self._write()` (given) starts with `LOCK TABLE audit_log IN EXCLUSIVE MODE`: every
#   change appends to the audit log, so its lock is the registry's write lock; readers read.
#
# Inside, `UPDATE models SET last_version = last_version + 1 ... RETURNING last_version`
# bumps and reads the counter in one statement, and a refused registration rolls it back
# with the rest: no gaps (a *sequence* would leave one). The artifact is written **before**
# the transaction: no version can point at a missing file, and no writer waits for our
# `fsync`s. The audit log is a **hash chain**, $h_k = \mathrm{SHA256}(h_{k-1} \,\|\,
# \mathrm{entry}_k)$: rewriting history, even past the triggers, breaks every later hash.
#
# ## Exercise 3.2: registering a version
#
# Write `register(model, artifact, by, ...)`: check the inputs (metrics finite numbers,
# dataset values SHA-256 digests: `ValueError`), `put` the artifact, then in **one** `with
# self._write():` require an author (`self._require`), bump the counter (`LookupError` for an
# unknown model), check the parent exists, insert the version, its datasets, metrics and
# tags (values as text), `self._audit(by, "register", model, version)`, and return the
# number. A refused registration leaves no trace and uses no number.

# %% tags=["export"]
class Registry(RegistryBase):
    """A model registry: metadata in the database at ``url``, artifacts in ``store``."""

    def __init__(self, url: str = "sqlite:///registry.db", store: str | None = None,
                 read_only: bool = False) -> None:
        super().__init__(url, read_only)
        self.store = ArtifactStore(store or default_store(url))

    def register(self, model: str, artifact: bytes, by: str, *, params: dict | None = None,
                 metrics: dict | None = None, datasets: dict | None = None, code: str = "",
                 parent: int | None = None, tags: dict | None = None) -> int:
        """Store ``artifact``, record the next version of ``model``; return its number."""
        # BEGIN SOLUTION 3.2
        metrics, datasets = dict(metrics or {}), dict(datasets or {})
        tags = {key: str(value) for key, value in (tags or {}).items()}
        bad = [k for k, v in metrics.items() if isinstance(v, bool)
               or not isinstance(v, (int, float)) or not math.isfinite(v)]
        bad += [k for k, v in datasets.items() if not SHA256_RE.fullmatch(str(v))]
        if bad:
            raise ValueError(f"{bad}: metrics must be finite numbers, datasets SHA-256 digests")
        digest = self.store.put(artifact)  # durable before any row points at it
        with self._write():
            self._require(by, "author")
            version = self.db.value("UPDATE models SET last_version = last_version + 1 "
                                    "WHERE name = ? RETURNING last_version", (model,))
            if version is None:
                raise LookupError(f"no model {model!r}; create it first with create_model()")
            if parent is not None and self.db.value("SELECT 1 FROM versions WHERE model = ? "
                                                    "AND version = ?", (model, parent)) is None:
                raise LookupError(f"{model!r} has no version {parent} to be the parent")
            self.db.execute("INSERT INTO versions (model, version, artifact, artifact_bytes, code,"
                            " params, parent, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, "
                            "?, ?, ?)", (model, version, digest, len(artifact), code,
                                         canonical_json(params or {}), parent, by, utc_now()))
            for table, items in (("datasets", datasets), ("metrics", metrics), ("tags", tags)):
                for key, value in items.items():
                    self.db.execute(f"INSERT INTO {table} VALUES (?, ?, ?, ?)",
                                    (model, version, key, value))
            self._audit(by, "register", model, version, artifact=digest)
        return version
        # END SOLUTION


# %%
check("q2")

# %% [markdown]
# ## The spam filter's versions
#
# A version is a spam filter trained from weak labels: pattern LFs vote on the training
# comments, a one-coin label model combines the votes (fitted without labels, or on `valid`'s
# 120 gold labels), a logistic regression over hashed character n-grams learns from its
# labels. Its weights, the artifact, are stored **as data** with safetensors (a JSON header,
# raw arrays), never pickled: unpickling runs whatever code a file names. LFs, label model,
# features, threshold are parameters; the code hash covers the LF patterns.

# %%
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import LogisticRegression

from mlsys_edu.data import youtube_spam
from mlsys_edu.labkit.weak_labels import SPAM_PATTERN_LFS, OneCoinModel, label_matrix

SPLITS = vars(youtube_spam())  # {"train": ..., "valid": ..., "test": ...}
DATA = {name: hashlib.sha256(df[["comment_id", "text", "label"]].to_csv(index=False).encode())
        .hexdigest() for name, df in SPLITS.items()}
FEATURES = {"analyzer": "char_wb", "ngram_range": [2, 4], "n_features": 2**14}


def featurize(texts, spec: dict):
    spec = {**spec, "ngram_range": tuple(spec["ngram_range"])}
    return HashingVectorizer(alternate_sign=False, **spec).transform(texts)


def train_spam_filter(label_model: str, lfs=SPAM_PATTERN_LFS) -> tuple[bytes, dict, str]:
    """The weights (safetensors bytes), the parameters and the code hash of one version."""
    L, texts = label_matrix(SPLITS["train"]["text"], lfs), SPLITS["train"]["text"]
    gold = (label_matrix(SPLITS["valid"]["text"], lfs), SPLITS["valid"]["label"].to_numpy())
    votes = OneCoinModel().fit_accuracies(*(gold if label_model == "gold" else (L,)))
    p, voted = votes.predict_proba(L), (L != -1).any(axis=1)
    clf = LogisticRegression(solver="liblinear", random_state=0)
    clf.fit(featurize(texts[voted], FEATURES), p[voted].argmax(1), sample_weight=p[voted].max(1))
    code = hashlib.sha256(canonical_json([[lf.pattern, lf.label] for lf in lfs]).encode())
    weights = {"coef": clf.coef_.astype(np.float32), "intercept": clf.intercept_.astype(np.float32)}
    params = {"lfs": [lf.name for lf in lfs], "label_model": label_model, "features": FEATURES}
    return save_weights(weights), {**params, "threshold": 0.5}, code.hexdigest()


def spam_metrics(artifact: bytes, params: dict, split: str) -> dict[str, float]:
    """Accuracy, spam caught (recall) and ham flagged (false-positive rate) on a split."""
    w, df = load_weights(artifact), SPLITS[split]
    logit = featurize(df["text"], params["features"]) @ w["coef"].ravel() + w["intercept"][0]
    flagged, spam = 1 / (1 + np.exp(-logit)) >= params["threshold"], df["label"].to_numpy() == 1
    return {f"{split}_accuracy": float((flagged == spam).mean()),
            f"{split}_spam_caught": float(flagged[spam].mean()),
            f"{split}_ham_flagged": float(flagged[~spam].mean())}


# %% [markdown]
# Alice registers v1 (no labels, no `link` LF) and v2 (gold labels, every LF, parent v1). Carol
# keeps v2's weights, lowers the threshold to 0.3 to catch more spam: v3 shares v2's file.

# %%
registry = Registry(f"sqlite:///{scratch_dir()}/spam.db")
for user, role in dict(alice="author", carol="author", bob="reviewer", dave="operator").items():
    registry.add_user(user, [role])
registry.create_model("spam-filter", by="alice", description="YouTube comment spam filter")
no_link = [lf for lf in SPAM_PATTERN_LFS if lf.name != "link"]
for label_model, lfs, parent, by, threshold in [("no labels", no_link, None, "alice", 0.5),
        ("gold", SPAM_PATTERN_LFS, 1, "alice", 0.5), ("gold", SPAM_PATTERN_LFS, 2, "carol", 0.3)]:
    if threshold == 0.5:
        artifact, params, code = train_spam_filter(label_model, lfs)
    params = {**params, "threshold": threshold}
    registry.register("spam-filter", artifact, by=by, params=params, code=code, parent=parent,
                      metrics=spam_metrics(artifact, params, "valid"), datasets=DATA,
                      tags={"label_model": label_model, "lfs": len(lfs)})
pd.DataFrame([{"v": v["version"], "by": v["created_by"], **v["metrics"], "artifact":
               v["artifact"][:10]} for v in registry.versions("spam-filter")]).round(3)

# %% [markdown]
# ## Exercise 3.3: search and diff
#
# Write `search(model=None, tags=None, dataset=None, min_metrics=None)`: the versions
# (`self.version` dicts, by model then version) matching every filter given (each tag equal
# as text; a dataset with SHA-256 `dataset`, i.e. *which models saw this data?*; each metric
# at least its bound), filtered in SQL with `EXISTS` sub-queries. Write `diff(model, a, b)`:
# for `"params"`, `"metrics"`, `"datasets"`, `"tags"`, a dict of each key whose values differ
# to `[value_in_a, value_in_b]` (`None` where one lacks it); for `"code"` and `"artifact"`,
# `[a, b]` when they differ, else `None`.

# %% tags=["export"]
@add_to_class(Registry)
def search(self, model: str | None = None, tags: dict | None = None, dataset: str | None = None,
           min_metrics: dict | None = None) -> list[dict]:
    """Versions matching every filter given, by (model, version)."""
    # BEGIN SOLUTION 3.3
    sql, args = ["SELECT model, version FROM versions v WHERE 1 = 1"], []
    same = "x.model = v.model AND x.version = v.version"
    if model is not None:
        sql.append("AND model = ?")
        args.append(model)
    for key, value in (tags or {}).items():
        sql.append(f"AND EXISTS (SELECT 1 FROM tags x WHERE {same} AND x.key = ? AND x.value = ?)")
        args += [key, str(value)]
    if dataset is not None:
        sql.append(f"AND EXISTS (SELECT 1 FROM datasets x WHERE {same} AND x.sha256 = ?)")
        args.append(dataset)
    for name, low in (min_metrics or {}).items():
        sql.append(f"AND EXISTS (SELECT 1 FROM metrics x WHERE {same} AND x.name = ? "
                   "AND x.value >= ?)")
        args += [name, float(low)]
    found = sorted((r["model"], r["version"]) for r in self.db.rows(" ".join(sql), args))
    return [self.version(m, v) for m, v in found]
    # END SOLUTION


@add_to_class(Registry)
def diff(self, model: str, a: int, b: int) -> dict:
    """What differs between versions ``a`` and ``b`` of ``model``."""
    # BEGIN SOLUTION 3.3
    va, vb = self.version(model, a), self.version(model, b)
    out: dict[str, Any] = {}
    for part in ("params", "metrics", "datasets", "tags"):
        keys = sorted(set(va[part]) | set(vb[part]))
        out[part] = {k: [va[part].get(k), vb[part].get(k)] for k in keys
                     if va[part].get(k) != vb[part].get(k)}
    for field in ("code", "artifact"):
        out[field] = [va[field], vb[field]] if va[field] != vb[field] else None
    return out
    # END SOLUTION


# %%
check("q3")

# %%
print(registry.diff("spam-filter", 2, 3))
print([v["version"] for v in registry.search(dataset=DATA["valid"], tags={"label_model": "gold"},
                                             min_metrics={"valid_spam_caught": 0.9})])

# %% [markdown]
# ## Part 3: people
#
# Users have roles: **authors** register and ask for reviews (`request_review`, given),
# **reviewers** decide them, **operators** move aliases. Moving `champion`, the alias the
# server loads, needs a review approved by someone who neither wrote the version nor asked.
#
# ## Exercise 3.4: reviews
#
# Write `review(review_id, by, approve, note="")`: a reviewer decides a *pending* review
# (`LookupError` if there is none, `ValueError` once decided, `PermissionError` for the
# version's author or the requester), setting `state` (`"approved"` or `"rejected"`),
# `decided_by` and `note`, audited as `"approve"` or `"reject"` with the review's model,
# version and alias.

# %% tags=["export"]
@add_to_class(Registry)
def review(self, review_id: int, by: str, approve: bool, note: str = "") -> None:
    """Approve or reject a pending review (four eyes: not the author, not the requester)."""
    # BEGIN SOLUTION 3.4
    with self._write():
        self._require(by, "reviewer")
        r = self.db.row("SELECT r.*, v.created_by AS author FROM reviews r JOIN versions v ON "
                        "v.model = r.model AND v.version = r.version WHERE r.id = ?", (review_id,))
        if r is None:
            raise LookupError(f"no review {review_id}")
        if r["state"] != "pending":
            raise ValueError(f"review {review_id} was {r['state']} by {r['decided_by']}; "
                             "ask for a new review")
        if by in (r["author"], r["requested_by"]):
            raise PermissionError(f"{by} wrote version {r['version']} of {r['model']} or asked "
                                  "for this review, so cannot decide it; ask another reviewer")
        self.db.execute("UPDATE reviews SET state = ?, decided_by = ?, note = ? WHERE id = ?",
                        ("approved" if approve else "rejected", by, note, review_id))
        self._audit(by, "approve" if approve else "reject", r["model"], r["version"],
                    r["alias"], review=review_id, note=note)
    # END SOLUTION


# %%
check("q4")

# %% [markdown]
# ## Exercise 3.5: aliases, loading and rollback
#
# Write `set_alias(model, alias, version, by, expected=None)`: an operator points `alias`
# (matching `ALIAS_RE`, else `ValueError`) at an existing version; a protected alias needs an
# approved review of that version for that alias (`PermissionError` saying how to get one).
# With `expected` it is a **compare-and-set**: move only if the alias points at `expected`
# now, else `AliasConflict`, so two operators acting on one stale page cannot both win.
# Audit `"set_alias"` with `previous=` the old version. Write `load(model, ref)`: the verified
# artifact of a version number or an alias (`resolve`, given). Write `rollback(model, alias,
# by)`: replay the alias's `"set_alias"` and `"rollback"` audit entries as a stack (a move
# pushes its version unless already on top, a rollback pops), pop the current version, point
# the alias at the one below (`LookupError` if none), audit `"rollback"`, return it.

# %% tags=["export"]
@add_to_class(Registry)
def set_alias(self, model: str, alias: str, version: int, by: str,
              expected: int | None = None) -> None:
    """Point ``alias`` at ``version``; with ``expected``, only from there."""
    # BEGIN SOLUTION 3.5
    if not isinstance(alias, str) or not ALIAS_RE.fullmatch(alias):
        raise ValueError(f"alias {alias!r} must match {ALIAS_RE.pattern}")
    with self._write():
        self._require(by, "operator")
        self.version(model, version)
        approved = self.db.value("SELECT 1 FROM reviews WHERE model = ? AND version = ? AND "
                                 "alias = ? AND state = 'approved'", (model, version, alias))
        if alias in self.PROTECTED_ALIASES and approved is None:
            raise PermissionError(f"version {version} of {model!r} has no approved review for "
                                  f"{alias!r}: request_review() it and have a reviewer approve")
        current = self.aliases(model).get(alias)
        if expected is not None and current != expected:
            raise AliasConflict(f"{model}@{alias} points at {current}, not {expected}: someone "
                                "moved it; look again before moving it")
        self.db.execute("INSERT INTO aliases (model, alias, version) VALUES (?, ?, ?) ON CONFLICT "
                        "(model, alias) DO UPDATE SET version = excluded.version",
                        (model, alias, version))
        self._audit(by, "set_alias", model, version, alias, previous=current)
    # END SOLUTION


@add_to_class(Registry)
def load(self, model: str, ref: int | str) -> bytes:
    """The verified artifact of a version (an int) or of an alias (a str)."""
    # BEGIN SOLUTION 3.5
    version = self.resolve(model, ref) if isinstance(ref, str) else ref
    digest = self.db.value("SELECT artifact FROM versions WHERE model = ? AND version = ?",
                           (model, version))
    if digest is None:
        raise LookupError(f"{model!r} has no version {version!r}")
    return self.store.get(digest)
    # END SOLUTION


@add_to_class(Registry)
def rollback(self, model: str, alias: str, by: str) -> int:
    """Point ``alias`` back at the version it held before the current one."""
    # BEGIN SOLUTION 3.5
    with self._write():
        self._require(by, "operator")
        stack: list[int] = []
        for entry in (e for e in self.audit_log(model) if e["alias"] == alias):
            if entry["action"] == "set_alias" and stack[-1:] != [entry["version"]]:
                stack.append(entry["version"])
            elif entry["action"] == "rollback":
                stack.pop()
        if len(stack) < 2:
            raise LookupError(f"{model}@{alias} has no earlier version to roll back to")
        self.db.execute("UPDATE aliases SET version = ? WHERE model = ? AND alias = ?",
                        (stack[-2], model, alias))
        self._audit(by, "rollback", model, stack[-2], alias, previous=stack[-1])
    return stack[-2]
    # END SOLUTION


# %%
check("q5")

# %% [markdown]
# Bob approves v2, Dave makes it `champion`. Carol's v3 catches more spam on `valid`; Bob
# approves it, Dave promotes it. Then fresh comments (the `test` split, our stand-in for
# production) show v3 flagging far more ham, and Dave rolls back.

# %%
for version, author in [(2, "alice"), (3, "carol")]:
    ticket = registry.request_review("spam-filter", version, by=author)
    registry.review(ticket, by="bob", approve=True, note="valid metrics look right")
    registry.set_alias("spam-filter", "champion", version, by="dave",
                       expected=registry.aliases("spam-filter").get("champion"))
live = {v: spam_metrics(registry.load("spam-filter", v), registry.version("spam-filter", v)
                        ["params"], "test")["test_ham_flagged"] for v in (2, 3)}
print(f"ham flagged on fresh comments: v2 {live[2]:.1%}, v3 {live[3]:.1%}")
print("rolled back to v", registry.rollback("spam-filter", "champion", by="dave"))
registry.comment("spam-filter", 3, f"flags {live[3]:.0%} of ham in production", by="dave")
moves = [(e["seq"], e["version"]) for e in registry.audit_log("spam-filter")
         if e["action"] in ("set_alias", "rollback")]
# alt: The version the champion alias points at, against the audit log entry that moved it: version 2, then 3 after its promotion, then 2 again after the rollback
fig, ax = plt.subplots(figsize=(6, 2.5))
ax.step(*zip(*moves), where="post", marker="o")
ax.set(xlabel="audit log entry", ylabel="champion", yticks=[1, 2, 3],
       title="promote v2, promote v3, roll back", xlim=(moves[0][0] - 1, moves[-1][0] + 1))
plt.show()
print(model_card(registry, "spam-filter", 3))

# %% [markdown]
# ## Part 4: does it hold? Exercise 3.6: verify
#
# Write `verify()`, run after a crash or a restore: `{"ok", "problems", "versions_checked",
# "partial_files", "orphans"}`, each problem a dict of `kind`, `model`, `version`, `detail`:
# `"missing"`/`"corrupt"` for a version whose artifact fails `store.get` (detail: the
# error's message); `"numbering"` for a model whose versions are not exactly $1, \dots,$
# `last_version`; `"audit"` (model and version `None`) at the first entry whose `prev_hash`
# is not the previous `hash` (`""` first) or whose `hash` is not `audit_hash(prev_hash,
# entry)`. `ok`: no problem. The store's `partial_files` and the `orphans` (stored digests no
# version uses) are listed, not problems: a crash may leave them, and nothing points at them.

# %% tags=["export"]
@add_to_class(Registry)
def verify(self) -> dict:
    """Check the registry's promises: see the exercise."""
    # BEGIN SOLUTION 3.6
    problems, used = [], set()
    rows = sorted(self.db.rows("SELECT model, version, artifact FROM versions"),
                  key=lambda r: (r["model"], r["version"]))
    for row in rows:
        used.add(row["artifact"])
        try:
            self.store.get(row["artifact"])
        except ArtifactError as err:
            problems.append({"kind": "missing" if isinstance(err, ArtifactMissing) else "corrupt",
                             "model": row["model"], "version": row["version"], "detail": str(err)})
    for m in self.models():
        numbers = [r["version"] for r in rows if r["model"] == m["name"]]
        if numbers != list(range(1, m["last_version"] + 1)):
            problems.append({"kind": "numbering", "model": m["name"], "version": None,
                             "detail": f"versions {numbers}, counter at {m['last_version']}"})
    prev = ""
    for entry in self.audit_log():
        if entry["prev_hash"] != prev or entry["hash"] != audit_hash(prev, entry):
            problems.append({"kind": "audit", "model": None, "version": None,
                             "detail": f"the audit chain breaks at entry {entry['seq']}"})
            break
        prev = entry["hash"]
    return {"ok": not problems, "problems": problems, "versions_checked": len(rows),
            "partial_files": self.store.partial_files(),
            "orphans": sorted(set(self.store.digests()) - used)}
    # END SOLUTION


# %%
check("q6")

# %% [markdown]
# **Crashes.** `crash_while_registering` (given; `crash_while_storing` is its twin for a
# bare store) forks a process that registers a version and kills itself with `SIGKILL` at
# one of `CRASH_POINTS`: the file's `fsync`, the rename, the folder's `fsync`, `COMMIT`. No
# `finally` runs. After each, `verify` must pass; and it must catch a flipped byte.

# %%
for seed, point in enumerate(CRASH_POINTS):
    outcome = crash_while_registering(Registry, registry.url, registry.store.root,
                                      "spam-filter", "carol", point, seed)
    report = registry.verify()
    print(f"{outcome:20} ok={report['ok']}, {len(report['partial_files'])} partial files, "
          f"{len(report['orphans'])} orphans, {report['versions_checked']} versions")
flip_byte(registry.store.path(registry.version("spam-filter", 1)["artifact"]), 100)
print(registry.verify()["problems"][0]["detail"])

# %% [markdown]
# **Writers at once.** Four processes (`register_from_processes`, given) register 25
# versions each at the same time: every number from 1 to 100 must appear exactly once.

# %%
url, store = f"sqlite:///{scratch_dir()}/busy.db", scratch_dir()
with Registry(url, store) as busy:
    busy.add_user("robot", ["author"])
    busy.create_model("load-test", by="robot")
runs = register_from_processes(Registry, url, store, "load-test", "robot", 4, 25)
got = sorted(v for run in runs for v in run["versions"])
print(got == list(range(1, 101)), f"slowest: {max(max(r['seconds']) for r in runs) * 1e3:.0f} ms")
# alt: Left, the version numbers each of four writers got, interleaved and covering 1 to 100 exactly once; right, the cumulative distribution of each writer's registration latency, similar for all four (none starves)
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 2.8), layout="constrained")
for i, run in enumerate(runs):
    ax1.scatter(run["versions"], [i] * 25, marker="|s^o"[i], s=30)
    ax2.step(np.sort(run["seconds"]) * 1e3, np.linspace(0.04, 1, 25), label=f"writer {i}",
             where="post", linestyle=(0, (1 + 3 * i, 2)))
ax1.set(xlabel="version number", ylabel="writer", yticks=range(4), title="who got which number")
ax2.set(xlabel="registration latency (ms)", ylabel="fraction", title="4 writers at once")
ax2.legend()
plt.show()

# %% [markdown]
# ## Part 5: a page to look at, and past one file
#
# `serve_registry` (given) serves a **read-only** web view (the database opened read-only,
# `GET` only): models, versions, the lineage graph, model cards, the audit log. Its thread
# lives in this kernel (the autograder runs each cell in a fresh process: a test starts its
# own server). Its lineage graph:

# %%
from IPython.display import HTML, display
with serve_registry(lambda: Registry(registry.url, registry.store.root, read_only=True)) as view:
    print("web view at", view.url, "answers", view.fetch("/")[:40])
# alt: The lineage graph of spam-filter: three datasets feed versions 1 to 3, v1 from its own code hash (no link LF) and v2 and v3 from another, each version points to its parent, and v2 carries the champion alias
display(HTML(lineage_svg(registry.versions("spam-filter"), registry.aliases("spam-filter"))))

# %% [markdown]
# **PostgreSQL.** The same `Registry` runs on PostgreSQL (MLflow's production backend) with a
# URL like `postgresql://user:password@host:5432/registry` and a shared artifact folder: the
# SQL is portable, and `_write` locks where SQLite's `BEGIN IMMEDIATE` did it for us. The
# course's tests check concurrency and crashes on both. Set `MLSYS_EDU_POSTGRES_URL` to try:

# %%
if os.environ.get("MLSYS_EDU_POSTGRES_URL"):
    remote = Registry(os.environ["MLSYS_EDU_POSTGRES_URL"], scratch_dir())
    print(remote.db.dialect, remote.verify()["ok"])

# %% [markdown]
# **Going further.** Collect orphans safely while writers run (hint: a grace period, as
# git's `gc`). Serve `champion`, switching when the alias moves: lab 04.
