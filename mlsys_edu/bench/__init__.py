"""The benchmark harness: our implementation against today's tools, side by side.

Layer 3 of ``mlsys_edu``. A comparison is a file ``benchmarks/<name>.py`` (see
``benchmarks/README.md``); ``mlsys-edu bench`` discovers them, runs every side in a fresh
subprocess of the matching interpreter, and writes ``build/bench/results.{json,md}`` and one
figure per comparison.
"""
