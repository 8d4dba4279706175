"""Figures in a lab source, and the text alternative each one must carry (WCAG 2.1, 1.1.1).

A code cell that draws figures carries one comment line per figure, in the order the figures
appear::

    # alt: Coverage and empirical accuracy of each LF on valid; most LFs cover under 20%
    #      of the comments and are right more than 80% of the time

The build writes each line as its figure's alt text on the site and in the notebooks.
``check-labs`` refuses a cell that draws a figure without one. Which cells draw is read from
the code without running it: a top-level call of a pyplot function (``plt.show``,
``plt.subplots``, ...), of anything named ``plot...`` (``df.plot.barh``, ``plot_reliability``),
or of a plotting method (``ax.scatter``, ``ax.imshow``, ...).
"""

from __future__ import annotations

import ast
import re

ALT_RE = re.compile(r"^\s*#\s*alt:\s*(?P<text>.*\S)\s*$")
_CONTINUED_RE = re.compile(r"^\s*#\s{2,}(?P<text>\S.*?)\s*$")
# Methods that draw (on an Axes or a DataFrame); pyplot's own functions all count.
_DRAWING = {"show", "subplots", "figure", "imshow", "scatter", "hist", "bar", "barh", "boxplot",
            "violinplot", "pcolormesh", "contour", "contourf", "heatmap", "errorbar",
            "fill_between", "stem", "step", "pie", "matshow", "spy", "hexbin"}
_PYPLOT = {"plt", "pyplot"}
_NOT_DRAWING = {"close", "ioff", "ion", "switch_backend", "get_backend", "rc", "rcdefaults",
                "style", "use"}


def alt_texts(lines: list[str]) -> list[str]:
    """The ``# alt:`` texts of a cell, in order. A long one continues on the comment lines
    right after it that are indented by two spaces or more after the ``#``."""
    texts: list[str] = []
    continuing = False
    for line in lines:
        match = ALT_RE.match(line)
        more = _CONTINUED_RE.match(line)
        if match:
            texts.append(match.group("text"))
            continuing = True
        elif continuing and more:
            texts[-1] += " " + more.group("text")
        else:
            continuing = False
    return texts


def _called_name(call: ast.Call) -> tuple[str | None, str]:
    """(the object a method is called on, if a plain name; the function's name)."""
    func = call.func
    if isinstance(func, ast.Attribute):
        owner = func.value.id if isinstance(func.value, ast.Name) else None
        return owner, func.attr
    if isinstance(func, ast.Name):
        return None, func.id
    return None, ""


def _top_level_calls(tree: ast.Module) -> list[ast.Call]:
    """Calls outside function and class bodies (what runs when the cell runs)."""
    calls: list[ast.Call] = []

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                                  ast.Lambda)):
                continue
            if isinstance(child, ast.Call):
                calls.append(child)
            visit(child)

    visit(tree)
    return calls


def figures_drawn(code: str) -> int:
    """How many figures a cell's code shows, read without running it: one per top-level
    ``plt.show()``, and one for a cell that draws without calling it (shown at its end)."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return 0
    shows, draws = 0, False
    for call in _top_level_calls(tree):
        owner, name = _called_name(call)
        if owner in _PYPLOT and name == "show":
            shows += 1
        if ((owner in _PYPLOT and name not in _NOT_DRAWING) or name.startswith("plot")
                or name in _DRAWING):
            draws = True
    return max(shows, 1) if draws else 0
