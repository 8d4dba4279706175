"""Lab-01 submissions for the after-the-deadline tests, made from the course's own notebooks.

* ``solution``: the solution notebook as the build writes it;
* ``independent``: the student notebook with every exercise solved by different code (written
  here, not copied from the lab), the way a second student would;
* ``wrong``: the student notebook with a few exercises done with typical slips;
* ``stubs``: the student notebook untouched;
* ``disguised(nb)``: a copy with every cell's locals renamed, comments dropped and the code
  re-laid out (``mlsys_edu.grader.similarity.disguise``).
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import nbformat

from mlsys_edu.grader.similarity import disguise

ROOT = Path(__file__).resolve().parents[2]
LAB_DIR = ROOT / "labs" / "01_weak_supervision"
STUB_RE = re.compile(r'^(?P<indent>\s*)raise NotImplementedError\("Exercise [0-9.]+"\)\s*$',
                     re.M)

# One body per stub, in the notebook's order: keyword_lf, regex_lf, add_features, apply_lfs,
# lf_polarity, lf_coverage, lf_overlaps, lf_conflicts, lf_summary, majority_vote,
# DawidSkene._log_joint, DawidSkene.fit, soft_cross_entropy, train_end_model.
INDEPENDENT = [
    '''lowered = tuple(k.lower() for k in keywords)

def vote(row):
    return label if any(k in row.text.lower() for k in lowered) else ABSTAIN

def vote_all(frame):
    texts = frame["text"].astype(object).fillna("").str.lower()
    hits = np.zeros(len(frame), dtype=bool)
    for k in lowered:
        hits |= texts.str.contains(k, regex=False).to_numpy(dtype=bool)
    return np.where(hits, label, ABSTAIN)

return LabelingFunction(name, vote, vote_all)''',
    '''rx = re.compile(pattern, flags=re.I)

def vote(row):
    return ABSTAIN if rx.search(row.text) is None else label

def vote_all(frame):
    found = [rx.search(t) is not None for t in frame["text"].astype(object).fillna("")]
    return np.where(np.array(found, dtype=bool), label, ABSTAIN)

return LabelingFunction(name, vote, vote_all)''',
    '''result = df.copy()
tokens = [WORD_RE.findall(t.lower()) for t in df["text"]]
result["n_words"] = np.array([len(ts) for ts in tokens], dtype=np.int64)
result["n_stop_words"] = np.array(
    [sum(1 for w in ts if w in ENGLISH_STOP_WORDS) for ts in tokens], dtype=np.int64)
per_author = df["author"].value_counts()
result["author_comments"] = df["author"].map(per_author).to_numpy(dtype=np.int64)
return result''',
    '''n = len(df)
columns, rows, frame = [], None, None
for lf in tqdm(lfs, desc="labeling functions", disable=n < progress_min_rows):
    if lf.vectorized is not None:
        frame = fast_strings(df) if frame is None else frame
        out = np.asarray(lf.vectorized(frame))
    else:
        rows = list(df.itertuples(index=False)) if rows is None else rows
        out = np.array([lf(r) for r in rows], dtype=object)
    try:
        out = out.astype(np.int64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"labeling function {lf.name!r} gave a non-integer vote") from exc
    if out.shape != (n,) or out.min(initial=0) < -1 or out.max(initial=0) > 127:
        raise ValueError(f"labeling function {lf.name!r}: votes outside -1..127 or not one per row")
    columns.append(out)
return np.column_stack(columns).astype(np.int8) if columns else np.zeros((n, 0), np.int8)''',
    '''L = validate_label_matrix(L)
emitted = []
for j in range(L.shape[1]):
    col = L[:, j]
    emitted.append([int(v) for v in sorted(set(col[col >= 0].tolist()))])
return emitted''',
    '''L = validate_label_matrix(L)
return np.mean(L >= 0, axis=0)''',
    '''L = validate_label_matrix(L)
active = (L >= 0).astype(int)
others = active.sum(axis=1, keepdims=True) - active
return ((active == 1) & (others > 0)).mean(axis=0)''',
    '''L = validate_label_matrix(L)
k = int(L.max()) + 1 if (L >= 0).any() else 1
per_class = np.stack([(L == c).sum(axis=1) for c in range(k)], axis=1)
distinct = (per_class > 0).sum(axis=1)
return ((L >= 0) & (distinct[:, None] > 1)).mean(axis=0)''',
    '''L = validate_label_matrix(L)
data = {"Polarity": lf_polarity(L), "Coverage": lf_coverage(L),
        "Overlaps": lf_overlaps(L), "Conflicts": lf_conflicts(L)}
if y is not None:
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != L.shape[0]:
        raise ValueError(f"y has shape {y.shape} but L has {L.shape[0]} rows: one label each")
    voted = L >= 0
    right = (voted & (L == y[:, None])).sum(axis=0)
    wrong = (voted & (L != y[:, None])).sum(axis=0)
    total = right + wrong
    data["Correct"], data["Incorrect"] = right, wrong
    data["Emp. Acc."] = np.divide(right, total, out=np.full(len(total), np.nan),
                                  where=total > 0)
return pd.DataFrame(data, index=None if names is None else list(names))''',
    '''if tie_break not in {"abstain", "random"}:
    raise ValueError(f"unknown tie_break {tie_break!r}: use 'abstain' or 'random'")
counts = vote_counts(L, cardinality)
best = counts.max(axis=1)
tied = counts == best[:, None]
if tie_break == "random":
    noise = np.random.default_rng(seed).random(counts.shape)
    return np.argmax(np.where(tied, noise, -1.0), axis=1)
labels = counts.argmax(axis=1)
labels[(tied.sum(axis=1) > 1) | (best == 0)] = ABSTAIN
return labels''',
    '''T, b = self._table()
return (A @ T) + b[None, :] + np.log(self.class_balance_)[None, :]''',
    '''k = self.cardinality
L = validate_label_matrix(L, k)
n, m = L.shape
A = self._design(L)
start = vote_counts(L, k).astype(float) + 1e-3
post = start / start.sum(axis=1, keepdims=True)
last = None
for it in range(self.max_iter):
    self.n_iter_ = it + 1
    mass = post.sum(axis=0)
    if class_balance is not None:
        self.class_balance_ = np.asarray(class_balance, dtype=float)
    else:
        self.class_balance_ = (mass + self.alpha) / (n + k * self.alpha)
    voted = np.transpose(np.asarray(A.T @ post).reshape(m, k, k), (0, 2, 1))
    abst = mass[None, :] - voted.sum(axis=2)
    tally = np.concatenate([abst[:, :, None], voted], axis=2) + self.alpha
    self.confusion_ = tally / tally.sum(axis=2, keepdims=True)
    joint = self._log_joint(A)
    norm = np.logaddexp.reduce(joint, axis=1)
    post = np.exp(joint - norm[:, None])
    ll = float(norm.sum())
    if last is not None and ll - last < self.tol * n:
        break
    last = ll
self.log_likelihood_ = ll
none = self.confusion_[:, :, 0]
hit = np.stack([self.confusion_[:, y, y + 1] for y in range(k)], axis=1)
self.accuracies_ = (hit * self.class_balance_).sum(axis=1) / np.maximum(
    ((1 - none) * self.class_balance_).sum(axis=1), 1e-12)
return self''',
    '''z = torch.as_tensor(logits).float()
p = torch.as_tensor(targets).float()
if z.dim() != 2 or p.shape != z.shape:
    raise ValueError(f"logits {tuple(z.shape)} and targets {tuple(p.shape)} must share one (n, k) shape")
log_p = z - torch.logsumexp(z, dim=1, keepdim=True)
return (-(p * log_p).sum(dim=1)).mean()''',
    '''torch.manual_seed(seed)
features = to_torch(X)
soft = torch.tensor(np.asarray(targets), dtype=torch.float32)
net = SparseLinear(features.shape[1], soft.shape[1])
opt = torch.optim.Adam(net.parameters(), lr=lr, weight_decay=weight_decay)
for _ in range(epochs):
    opt.zero_grad()
    soft_cross_entropy(net(features), soft).backward()
    opt.step()
return net''',
]

# Typical slips, each in an exercise of its own (index into the stub order above).
WRONG = {
    5: "return (L != ABSTAIN).sum(axis=0)",  # lf_coverage: counts, not fractions
    9: "counts = vote_counts(L, cardinality)\nreturn counts.argmax(axis=1)",  # no tie policy
    12: "return -(torch.as_tensor(targets) * torch.as_tensor(logits)).sum(1).mean()",  # no log
}


def notebooks() -> tuple[nbformat.NotebookNode, nbformat.NotebookNode]:
    """(student, solution) notebooks of lab 01, as the course build writes them."""
    from mlsys_edu.lab.layout import get_lab
    from mlsys_edu.selftest import lab_notebooks

    return lab_notebooks(get_lab(ROOT, str(LAB_DIR)))


def fill_stubs(student: nbformat.NotebookNode, bodies: dict[int, str]) -> nbformat.NotebookNode:
    """The student notebook with stub number ``i`` (notebook order) replaced by ``bodies[i]``."""
    nb = copy.deepcopy(student)
    count = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue

        def replace(match: re.Match) -> str:
            nonlocal count
            body = bodies.get(count)
            count += 1
            if body is None:
                return match.group(0)
            return "\n".join(match["indent"] + line if line else line
                             for line in body.splitlines())

        cell.source = STUB_RE.sub(replace, cell.source)
    assert count == len(INDEPENDENT), f"lab 01 has {count} stubs; the fixture knows 14"
    return nb


def disguised(nb: nbformat.NotebookNode, prefix: str) -> nbformat.NotebookNode:
    """A renamed, re-laid-out copy of ``nb`` (the setup cell and magics untouched)."""
    out = copy.deepcopy(nb)
    for cell in out.cells:
        if cell.cell_type == "code" and "mlsys_edu:setup" not in cell.metadata.get("tags", []):
            cell.source = disguise(cell.source, prefix)
    return out


def write_batch(folder: Path) -> dict[str, Path]:
    """Write the batch: two originals, a disguised copy of each, a wrong one and the stubs."""
    student, solution = notebooks()
    independent = fill_stubs(student, dict(enumerate(INDEPENDENT)))
    wrong = fill_stubs(student, WRONG)
    batch = {"ada": solution, "ada_copy": disguised(solution, "q"),
             "ben": independent, "ben_copy": disguised(independent, "z"),
             "cyd_wrong": wrong, "dee_stubs": student}
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, nb in batch.items():
        paths[name] = folder / f"{name}.ipynb"
        nbformat.write(nb, paths[name])
    return paths
