"""Question q2: most frequent words."""

from mlsys_edu.lab import question


@question("q2", points=2)
def test_counts_and_order(sub):
    texts = ["Check out my channel!", "check my CHANNEL", "nice song"]
    assert sub.top_words(texts, 2) == [("channel", 2), ("check", 2)]


@question("q2", points=1)
def test_apostrophes_and_digits(sub):
    assert sub.top_words(["it's 2014 it's"], 3) == [("it's", 2), ("2014", 1)]


@question("q2", points=2, hidden=True)
def test_matches_reference(sub, ref, rng):
    words = ["spam", "ham", "song", "love", "sub", "free", "link"]
    texts = [" ".join(rng.choice(words, size=rng.integers(0, 12))) for _ in range(200)]
    for k in (1, 3, 7, 20):
        assert sub.top_words(texts, k) == ref.top_words(texts, k)
