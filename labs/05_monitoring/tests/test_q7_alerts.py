"""Question q7: the alert rule (consecutive windows, de-duplication, hysteresis)."""

import numpy as np

from mlsys_edu.lab import question


def _feed(rule, series, key="col"):
    fired = []
    for window, value in enumerate(series):
        fired.append(len(rule.update(window, {key: value}, when=f"t{window}")))
    return fired


@question("q7", points=2)
def test_fires_after_consecutive_breaches_once(sub):
    rule = sub.AlertRule("drift", "psi", threshold=0.2, fire_after=2)
    fired = _feed(rule, [0.1, 0.3, 0.1, 0.3, 0.4, 0.5, 0.6])
    assert fired == [0, 0, 0, 0, 1, 0, 0], "one breach is noise; two in a row fire, once"
    alert = rule.history[0]
    assert (alert.since_window, alert.since, alert.key) == (3, "t3", "col")
    assert alert.value == 0.6 and alert.worst == 0.6 and alert.last_window == 6
    assert "col" in rule.open and alert.resolved_window is None


@question("q7", points=2)
def test_hysteresis_and_resolution(sub):
    rule = sub.AlertRule("drift", "psi", 0.2, clear_threshold=0.1, fire_after=1, clear_after=2)
    fired = _feed(rule, [0.3, 0.15, 0.05, 0.15, 0.05, 0.08, 0.3])
    # 0.15 is under the threshold but not calm; calm needs two windows in a row at <= 0.1
    assert fired == [1, 0, 0, 0, 0, 0, 1]
    first, second = rule.history
    assert first.resolved_window == 5 and first.worst == 0.3
    assert second.since_window == 6 and rule.open["col"].since_window == 6
    assert len(rule.history) == 2, "the resolved alert stays in the history"


@question("q7", points=2)
def test_lower_is_worse_and_keys(sub):
    rule = sub.AlertRule("p", "p_value", 0.01, clear_threshold=0.1, fire_after=2,
                         higher_is_worse=False)
    out = [rule.update(0, {"a": 0.001, "b": 0.5}), rule.update(1, {"a": 0.002, "b": 0.001}),
           rule.update(2, {"a": np.nan, "b": 0.0001}), rule.update(3, {"a": 0.5, "b": 0.5})]
    assert [[x.key for x in w] for w in out] == [[], ["a"], ["b"], []]
    assert rule.open["a"].worst == 0.001 and rule.open["b"].since_window == 1


@question("q7", points=3, hidden=True)
def test_alerts_match_reference_on_random_streams(sub, ref, rng):
    for fire_after, clear_after, higher in ((1, 1, True), (3, 2, True), (2, 3, False)):
        values = rng.choice([0.0, 0.05, 0.15, 0.3, np.nan], size=(80, 3),
                            p=[0.3, 0.2, 0.2, 0.25, 0.05])
        kw = dict(threshold=0.1 if higher else 0.12, clear_threshold=0.05 if higher else 0.2,
                  fire_after=fire_after, clear_after=clear_after, higher_is_worse=higher)
        ours, theirs = sub.AlertRule("r", "m", **kw), ref.AlertRule("r", "m", **kw)
        for w, row in enumerate(values):
            vals = {k: float(v) for k, v in zip("xyz", row)}
            a = [(x.key, x.since_window) for x in ours.update(w, vals, w)]
            b = [(x.key, x.since_window) for x in theirs.update(w, vals, w)]
            assert a == b, f"window {w}, {kw}"
        got = [(x.key, x.since_window, x.last_window, x.resolved_window, x.worst, x.value)
               for x in ours.history]
        want = [(x.key, x.since_window, x.last_window, x.resolved_window, x.worst, x.value)
                for x in theirs.history]
        assert got == want
        assert sorted(ours.open) == sorted(theirs.open)
