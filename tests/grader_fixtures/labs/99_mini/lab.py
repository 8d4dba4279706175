# %% [markdown]
# # Lab 99: a tiny lab for the grader's own tests
# Three exercises: a mean, a normalisation with numpy, a word counter class.

# %% tags=["export"]
import numpy as np
import pandas as pd

# %% tags=["export"]
def mean(xs):
    """The arithmetic mean: sum(xs) / len(xs)."""
    # BEGIN SOLUTION 1.1
    return sum(xs) / len(xs)
    # END SOLUTION


# %%
check("q1")


# %% tags=["export"]
def normalize(v):
    """v / ||v||_2 as a float array."""
    # BEGIN SOLUTION 1.2
    v = np.asarray(v, dtype=float)
    return v / np.linalg.norm(v)
    # END SOLUTION


# %%
check("q2")


# %% tags=["export"]
class Counter:
    """Counts words; ``top(k)`` gives the k most frequent (ties by word)."""

    def __init__(self):
        self.counts = {}

    def add(self, word):
        # BEGIN SOLUTION 1.3
        self.counts[word] = self.counts.get(word, 0) + 1
        # END SOLUTION

    def top(self, k):
        # BEGIN SOLUTION 1.4
        return sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))[:k]
        # END SOLUTION


def count_frame(words):
    """A DataFrame with columns word, count, sorted by word."""
    # BEGIN SOLUTION 1.5
    c = Counter()
    for w in words:
        c.add(w)
    return pd.DataFrame(sorted(c.counts.items()), columns=["word", "count"])
    # END SOLUTION


# %%
check("q3")
