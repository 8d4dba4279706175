"""``mlsys-edu new-lab NN slug``: a lab folder that builds and passes its self-test."""

from __future__ import annotations

import re
from pathlib import Path

from mlsys_edu.lab.layout import LAB_DIR_RE, Lab

LAB_TEMPLATE = '''\
# %% [markdown]
# # Lab {n}: {title}
#
# One paragraph: which system students build and which stage of the product's life it serves.

# %% tags=["export"]
import numpy as np

# %% [markdown]
# ## Exercise {n}.1: a first function
#
# Write `double(x)`, which returns $2x$ for a number or a numpy array.

# %% tags=["export"]
def double(x):
    """Twice x."""
    # BEGIN SOLUTION
    return 2 * x
    # END SOLUTION


# %%
check("q1")
'''

TEST_TEMPLATE = '''\
"""Question q1: double."""

import numpy as np

from mlsys_edu.lab import question


@question("q1", points=1)
def test_double_a_number(sub):
    assert sub.double(3) == 6


@question("q1", points=1, hidden=True)
def test_double_matches_reference(sub, ref, rng):
    x = rng.normal(size=100)
    np.testing.assert_allclose(sub.double(x), ref.double(x))
'''


def new_lab(root: Path, number: str, slug: str) -> Lab:
    """Create ``labs/NN_slug`` with a one-exercise lab and its question; refuse to overwrite."""
    if not re.fullmatch(r"\d{1,2}", number):
        raise ValueError(f"lab number {number!r} must be one or two digits, e.g. 06")
    name = f"{int(number):02d}_{slug}"
    if not LAB_DIR_RE.match(name):
        raise ValueError(f"slug {slug!r} must be lower-case letters, digits and underscores")
    lab = Lab(root, f"{int(number):02d}", slug)
    if lab.dir.exists():
        raise FileExistsError(f"{lab.dir} already exists; pick another number or slug")
    existing = [p.name for p in (root / "labs").glob(f"{lab.number}_*")]
    if existing:
        raise FileExistsError(f"lab number {lab.number} is taken by {existing[0]}")
    lab.tests_dir.mkdir(parents=True)
    title = slug.replace("_", " ").capitalize()
    lab.source.write_text(LAB_TEMPLATE.format(n=int(number), title=title), encoding="utf-8")
    (lab.tests_dir / "test_q1.py").write_text(TEST_TEMPLATE, encoding="utf-8")
    return lab
