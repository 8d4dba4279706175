# %% [markdown]
# # Lab 00: Orientation
#
# This course follows one product through its whole life: a spam filter for YouTube
# comments. Before we build any system, this short lab walks you through the toolkit you will
# use in every lab:
#
# 1. load the course dataset with `mlsys_edu.data`;
# 2. write a function in an exercise cell (look for `raise NotImplementedError` or
#    `...  # YOUR CODE HERE`);
# 3. run `check("q1")` to see how your code does on the question's public tests;
# 4. export your notebook with `check.export()` and submit the zip.
#
# Your grade comes from the same tests you run here plus hidden ones that the autograder runs
# on your exported notebook, outside your notebook's process. Only the functions count: keep
# their names and signatures as given.

# %% tags=["export"]
import re
from collections import Counter

import matplotlib.pyplot as plt
import pandas as pd

from mlsys_edu.data import load_youtube_spam

# %% [markdown]
# ## The dataset
#
# The UCI YouTube Spam Collection holds 1,956 comments from five music videos, each labelled
# spam (1) or ham (0). On your laptop it is downloaded once into `~/.cache/mlsys_edu`; offline,
# point `MLSYS_EDU_DATA` at a folder holding the five CSV files.

# %%
comments = load_youtube_spam()
print(f"{len(comments):,} comments from {comments.video.nunique()} videos")
comments[["video", "author", "text", "label"]].head()

# %% [markdown]
# ## Exercise 0.1: how much spam does each video get?
#
# Write `spam_rate_by_video(df)`: for each video, the fraction of its comments that are
# spam, $\text{rate}_v = \frac{1}{n_v} \sum_{i : \text{video}_i = v} y_i$, as a `pd.Series`
# indexed by video and sorted by video. Rows whose label is unknown (`-1`) do not count.

# %% tags=["export"]
def spam_rate_by_video(df: pd.DataFrame) -> pd.Series:
    """Fraction of spam among each video's labelled comments, indexed by video."""
    # BEGIN SOLUTION
    labelled = df[df["label"] >= 0]
    return labelled.groupby("video")["label"].mean().sort_index()
    # END SOLUTION


# %%
check("q1")

# %% [markdown]
# Every video gets a lot of spam: the collection was sampled to be roughly balanced, which
# is worth remembering when we read accuracies later (a constant classifier scores about 50%).

# %%
rates = spam_rate_by_video(comments)
fig, ax = plt.subplots(figsize=(6, 3))
ax.bar(rates.index.astype(str), rates.values, color="tab:red")
ax.axhline(0.5, color="grey", linestyle="--", linewidth=1, label="balanced")
ax.set_xlabel("video")
ax.set_ylabel("spam rate")
ax.set_ylim(0, 1)
ax.set_title("Share of spam comments per video")
ax.legend()
# alt: Bar chart of the share of spam comments in each of the five videos: from 47%
#      (video 5) to 55% (video 4), all close to the dashed 50% line
plt.show()

# %% [markdown]
# ## Exercise 0.2: what do spammers write?
#
# Write `top_words(texts, k)`: the `k` most frequent words across `texts`, as a list of
# `(word, count)` pairs, most frequent first, ties broken alphabetically. A word is a run of
# letters, digits or apostrophes, lower-cased (`re.findall(r"[a-z0-9']+", text.lower())`).

# %% tags=["export"]
def top_words(texts: list[str], k: int) -> list[tuple[str, int]]:
    """The k most frequent lower-cased words in texts, ties broken alphabetically."""
    # BEGIN SOLUTION
    counts = Counter(w for text in texts for w in re.findall(r"[a-z0-9']+", text.lower()))
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:k]
    # END SOLUTION


# %%
check("q2")

# %% [markdown]
# Spam asks for something: to check out a channel, to subscribe, to follow a link. Ham talks
# about the song. In Lab 01 you will turn observations like these into labeling functions.

# %%
spam_words = top_words(comments[comments.label == 1].text.tolist(), 8)
ham_words = top_words(comments[comments.label == 0].text.tolist(), 8)
pd.DataFrame({"spam": [f"{w} ({c})" for w, c in spam_words],
              "ham": [f"{w} ({c})" for w, c in ham_words]})

# %% [markdown]
# ## Submitting
#
# Run every cell, then `check.all()` for a summary of the public tests, and
# `check.export()` to write the zip you hand in.
