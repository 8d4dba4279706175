"""Declarative ML plumbing for lab 06: a schema, read and validated; payloads as tensors.

A *schema* (Overton's word) says what a model sees and what it must predict, not how:

* **payloads**: what the model reads. ``sequence`` (a text column as a bag of word and
  character n-grams), ``category`` (a column of labels such as the author), ``date`` (a
  timestamp column), and ``singleton``, which combines other payloads into one vector per row
  (the comment as a whole);
* **tasks**: what it predicts, each attached to a payload, with its classes;
* **sources**: the supervision of a task, each one named: a ``column`` of gold labels (-1
  where there is none) or a labeling function (``lf``, looked up by name);
* **slices**: named subsets of the data to monitor and give capacity to: a regular expression
  on a column (``pattern``) or a slicing function (``function``, looked up by name).

:func:`parse_schema` reads YAML text or a dict and reports every problem at once, each one
naming its field (``tasks[0].payload: no payload named 'comment_text'; payloads: ...``).
:mod:`mlsys_edu.labkit.payloads` turns a DataFrame into the tensors the payloads' encoders
read and runs the slices with checks. What lab 06 asks students to write (the compiler, the supervision and training, the
monitoring) is deliberately not here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

PAYLOAD_TYPES = ("sequence", "category", "date", "singleton")
NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Date features: years since 2013, hour and weekday on the circle, and "no date".
DATE_FEATURES = ("years_since_2013", "hour_sin", "hour_cos", "weekday_sin", "weekday_cos",
                 "missing")
_DEFAULT_DIM = {"sequence": 64, "category": 8, "date": 4, "singleton": 64}
_DEFAULT_DROPOUT = {"sequence": 0.5, "category": 0.5, "date": 0.5, "singleton": 0.1}
_FIELDS = {
    "payloads": {"name", "type", "column", "base", "dim", "dropout", "char_ngrams",
                 "word_ngrams", "min_count", "max_tokens"},
    "tasks": {"name", "payload", "classes"},
    "sources": {"name", "task", "column", "lf"},
    "slices": {"name", "column", "pattern", "function"},
}


class SchemaError(ValueError):
    """A schema is malformed; ``problems`` lists every finding as ``field: what to fix``."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        head = "the schema has 1 problem" if len(problems) == 1 else \
            f"the schema has {len(problems)} problems"
        super().__init__(head + ":\n" + "\n".join(f"  {p}" for p in self.problems))


class SliceFunctionError(ValueError):
    """A slice could not be computed; the message names the slice and what to fix."""


@dataclass(frozen=True)
class Payload:
    """One input of the model: ``type`` is one of :data:`PAYLOAD_TYPES`."""

    name: str
    type: str
    column: str | None = None
    base: tuple[str, ...] = ()            # singleton: the payloads it combines
    dim: int = 64                         # width of the payload's encoding
    dropout: float = 0.1                  # sequence, singleton: dropout on the encoding
    char_ngrams: tuple[int, int] | None = (2, 5)   # sequence: character n-gram lengths
    word_ngrams: tuple[int, int] | None = None     # sequence: word n-gram lengths
    min_count: int = 2                    # sequence, category: rarer items are "unknown"
    max_tokens: int = 512                 # sequence: n-grams kept per row (highest weights)


@dataclass(frozen=True)
class Task:
    """A prediction made from one payload: ``classes[c]`` is class ``c``'s name."""

    name: str
    payload: str
    classes: tuple[str, ...]


@dataclass(frozen=True)
class Source:
    """One named supervision source of a task: a gold ``column`` or a labeling function."""

    name: str
    task: str
    column: str | None = None
    lf: str | None = None


@dataclass(frozen=True)
class Slice:
    """A named subset of rows: ``pattern`` searched in ``column``, or a slicing ``function``."""

    name: str
    column: str | None = None
    pattern: str | None = None
    function: str | None = None


@dataclass(frozen=True)
class Schema:
    """A validated schema (see the module docstring); build one with :func:`parse_schema`."""

    payloads: tuple[Payload, ...]
    tasks: tuple[Task, ...]
    sources: tuple[Source, ...] = ()
    slices: tuple[Slice, ...] = ()

    def payload(self, name: str) -> Payload:
        """The payload called ``name`` (KeyError listing the payloads otherwise)."""
        for p in self.payloads:
            if p.name == name:
                return p
        raise KeyError(f"no payload named {name!r}; payloads: "
                       f"{', '.join(p.name for p in self.payloads)}")

    def order(self) -> list[Payload]:
        """Payloads in an order where every singleton comes after its base payloads."""
        done: dict[str, Payload] = {}

        def visit(p: Payload) -> None:
            if p.name not in done:
                for b in p.base:
                    visit(self.payload(b))
                done[p.name] = p

        for p in self.payloads:
            visit(p)
        return list(done.values())

    def sources_of(self, task: str) -> list[Source]:
        """The sources that supervise ``task``, in schema order."""
        return [s for s in self.sources if s.task == task]

    def without_slices(self) -> "Schema":
        """The same schema with no slices: the baseline model's schema."""
        return replace(self, slices=())

    def with_slices(self, *slices: Mapping[str, Any]) -> "Schema":
        """This schema plus ``slices`` (dicts as in YAML), validated like the rest."""
        return parse_schema({**self.to_dict(), "slices": [
            *self.to_dict().get("slices", []), *[dict(s) for s in slices]]})

    def to_dict(self) -> dict[str, list[dict[str, Any]]]:
        """The schema as plain data, defaults left out (what a person would have written)."""
        out: dict[str, list[dict[str, Any]]] = {}
        for section, items in (("payloads", self.payloads), ("tasks", self.tasks),
                               ("sources", self.sources), ("slices", self.slices)):
            if items:
                out[section] = [_plain(item) for item in items]
        return out


def _plain(item: object) -> dict[str, Any]:
    """A schema entry as a dict: its required fields, and the others where not the default."""
    required = {"name", "type", "payload", "classes", "task"}
    defaults = {f.name: f.default for f in fields(item)}
    if isinstance(item, Payload):
        defaults["dim"], defaults["dropout"] = _DEFAULT_DIM[item.type], _DEFAULT_DROPOUT[item.type]
    out = {}
    for key, value in asdict(item).items():
        if key in required or value != defaults.get(key):
            out[key] = list(value) if isinstance(value, tuple) else value
    return out


# ------------------------------------------------------------------------------ parsing
def _load(spec: str | Mapping[str, Any]) -> Any:
    if isinstance(spec, Mapping):
        return spec
    if not isinstance(spec, str):
        raise SchemaError([f"schema: expected YAML text or a dict, got {type(spec).__name__}"])
    try:
        import yaml
    except ImportError:  # pragma: no cover - PyYAML ships with Colab and the labs extra
        raise SchemaError(["schema: reading YAML needs PyYAML (pip install pyyaml); "
                           "or pass the schema as a dict"]) from None
    try:
        return yaml.safe_load(spec)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err)
        raise SchemaError([f"schema: not valid YAML{where}: {problem}"]) from None


def _int_pair(value: Any, where: str, problems: list[str]) -> tuple[int, int] | None:
    if value is None or value == []:
        return None
    ok = (isinstance(value, (list, tuple)) and len(value) == 2
          and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)
          and value[0] <= value[1])
    if not ok:
        problems.append(f"{where}: expected [low, high] with 1 <= low <= high, got {value!r}")
        return None
    return (value[0], value[1])


def _entries(raw: Mapping[str, Any], section: str, problems: list[str],
             required: bool) -> list[tuple[str, dict]]:
    """The entries of one section as (field path, dict), checking names and keys."""
    items = raw.get(section)
    if items is None:
        if required:
            problems.append(f"{section}: missing; a schema needs at least one of its {section}")
        return []
    if not isinstance(items, list):
        problems.append(f"{section}: expected a list of entries (- name: ...), got "
                        f"{type(items).__name__}")
        return []
    out, seen = [], set()
    for i, item in enumerate(items):
        where = f"{section}[{i}]"
        if not isinstance(item, Mapping):
            problems.append(f"{where}: expected a mapping with a name, got {item!r}")
            continue
        name = item.get("name")
        if not isinstance(name, str) or not NAME_RE.match(name):
            problems.append(f"{where}.name: expected an identifier (letters, digits, _), got "
                            f"{name!r}")
            continue
        if name in seen:
            problems.append(f"{where}.name: {name!r} is used twice in {section}; names are "
                            "unique")
        seen.add(name)
        unknown = sorted(set(item) - _FIELDS[section])
        if unknown:
            problems.append(f"{where}: unknown field(s) {', '.join(map(str, unknown))} in "
                            f"{name!r}; fields: "
                            f"{', '.join(sorted(_FIELDS[section]))}")
        out.append((where, dict(item)))
    if required and not items:
        problems.append(f"{section}: empty; a schema needs at least one of its {section}")
    return out


def _number(item: dict, key: str, default: float, where: str, problems: list[str],
            low: float, high: float, integer: bool) -> Any:
    value = item.get(key, default)
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or not low <= value <= high:
        what = "an integer" if integer else "a number"
        problems.append(f"{where}.{key}: expected {what} in [{low:g}, {high:g}], got {value!r}")
        return default
    return value


def _payloads(raw: Mapping, problems: list[str]) -> tuple[list[Payload], list[str]]:
    """The valid payloads, and the names of all declared ones (valid or not)."""
    payloads, wheres = [], []
    entries = _entries(raw, "payloads", problems, required=True)
    declared = [item["name"] for _, item in entries]
    for where, item in entries:
        kind = item.get("type")
        if kind not in PAYLOAD_TYPES:
            problems.append(f"{where}.type: unknown payload type {kind!r} for "
                            f"{item['name']!r}; types: "
                            f"{', '.join(PAYLOAD_TYPES)}")
            continue
        column, base = item.get("column", item["name"]), item.get("base")
        if kind == "singleton":
            if base is None:  # Ludwig's default combiner: every other input
                base = [n for n, (_, other) in zip(declared, entries)
                        if other.get("type") != "singleton"]
            if isinstance(base, str):
                base = [base]
            if not (isinstance(base, list) and base and all(isinstance(b, str) for b in base)):
                problems.append(f"{where}.base: a singleton combines other payloads; give "
                                f"their names as a non-empty list, got {base!r}")
                base = []
            if "column" in item:
                problems.append(f"{where}.column: a singleton reads no column (it combines "
                                "its base payloads); remove it")
        else:
            if not isinstance(column, str) or not column:
                problems.append(f"{where}.column: a {kind} payload reads one column; name it "
                                f"(column: text), or leave it out to read {item['name']!r}")
            if "base" in item:
                problems.append(f"{where}.base: only singleton payloads have a base")
            base = []
        payloads.append(Payload(
            name=item["name"], type=kind, column=column if kind != "singleton" else None,
            base=tuple(base),
            dim=_number(item, "dim", _DEFAULT_DIM[kind], where, problems, 1, 4096, True),
            dropout=_number(item, "dropout", _DEFAULT_DROPOUT[kind], where, problems, 0.0, 0.9,
                            False),
            char_ngrams=_int_pair(item.get("char_ngrams", [2, 5]), f"{where}.char_ngrams",
                                  problems),
            word_ngrams=_int_pair(item.get("word_ngrams"), f"{where}.word_ngrams",
                                  problems),
            min_count=_number(item, "min_count", 2, where, problems, 1, 10**9, True),
            max_tokens=_number(item, "max_tokens", 512, where, problems, 1, 10**6, True)))
        wheres.append(where)
        if kind == "sequence" and payloads[-1].char_ngrams is None \
                and payloads[-1].word_ngrams is None:
            problems.append(f"{where}: a sequence needs word_ngrams or char_ngrams (or both)")
    for where, p in zip(wheres, payloads):
        for b in p.base:
            if b not in declared:
                problems.append(f"{where}.base: no payload named {b!r}; "
                                f"payloads: {', '.join(declared)}")
    _check_cycles(payloads, problems)
    return payloads, declared


def _check_cycles(payloads: list[Payload], problems: list[str]) -> None:
    by_name = {p.name: p for p in payloads}
    state: dict[str, int] = {}  # 1 = on the path, 2 = done

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2 or name not in by_name:
            return
        if state.get(name) == 1:
            cycle = " -> ".join(path[path.index(name):] + [name])
            problems.append(f"payloads: the singletons' bases form a cycle ({cycle}); a "
                            "payload cannot depend on itself")
            return
        state[name] = 1
        for b in by_name[name].base:
            visit(b, path + [name])
        state[name] = 2

    for p in payloads:
        visit(p.name, [])


def parse_schema(spec: str | Mapping[str, Any]) -> Schema:
    """Read a schema from YAML text or a dict; raise :class:`SchemaError` listing every
    problem, each prefixed with its field (``payloads[2] 'date'.type: ...``)."""
    raw = _load(spec)
    if not isinstance(raw, Mapping):
        raise SchemaError([f"schema: expected a mapping with payloads and tasks, got "
                           f"{type(raw).__name__}"])
    problems: list[str] = []
    unknown = sorted(set(raw) - set(_FIELDS))
    if unknown:
        problems.append(f"schema: unknown section(s) {', '.join(map(str, unknown))}; sections: "
                        "payloads, tasks, sources, slices")
    payloads, names = _payloads(raw, problems)
    tasks = []
    singletons = [p.name for p in payloads if p.type == "singleton"]
    for where, item in _entries(raw, "tasks", problems, required=True):
        payload, classes = item.get("payload"), item.get("classes")
        if payload is None and len(singletons) == 1:  # the combiner, when there is one
            payload = singletons[0]
        if payload not in names:
            problems.append(f"{where}.payload: no payload named {payload!r}; "
                            f"payloads: {', '.join(names)}")
        if not (isinstance(classes, list) and len(classes) >= 2
                and all(isinstance(c, str) for c in classes) and len(set(classes)) == len(classes)):
            problems.append(f"{where}.classes: expected two or more distinct class names "
                            f"([ham, spam]), got {classes!r}")
            classes = ["0", "1"]
        tasks.append(Task(item["name"], str(payload), tuple(classes)))
    task_names = [t.name for t in tasks]
    sources = []
    for where, item in _entries(raw, "sources", problems, required=False):
        if "task" not in item and len(task_names) == 1:
            item["task"] = task_names[0]
        if item.get("task") not in task_names:
            problems.append(f"{where}.task: no task named {item.get('task')!r}; tasks: "
                            f"{', '.join(task_names)}")
        column, lf = item.get("column"), item.get("lf")
        if (column is None) == (lf is None) or not isinstance(column or lf, str):
            problems.append(f"{where}: a source is a gold-label column (column: label) or a "
                            "labeling function (lf: NAME); give exactly one")
        sources.append(Source(item["name"], str(item.get("task")), column, lf))
    for task in task_names:  # Ludwig's default: a task learns from the column of its name
        if all(s.task != task for s in sources):
            sources.append(Source(task, task, column=task))
    slices = []
    for where, item in _entries(raw, "slices", problems, required=False):
        pattern, function, column = item.get("pattern"), item.get("function"), item.get("column")
        if (pattern is None) == (function is None):
            problems.append(f"{where}: a slice is a pattern on a column (column: text, "
                            "pattern: 'https?://') or a slicing function (function: NAME); "
                            "give exactly one")
        elif pattern is not None:
            if not isinstance(column, str):
                problems.append(f"{where}.column: a pattern slice searches one column; name it")
            try:
                re.compile(str(pattern))
            except re.error as err:
                problems.append(f"{where}.pattern: {pattern!r} is not a valid regular "
                                f"expression ({err})")
        elif not isinstance(function, str):
            problems.append(f"{where}.function: expected the name of a slicing function")
        elif column is not None:
            problems.append(f"{where}: a slice is a pattern on a column or a slicing function "
                            "(which reads the whole frame); remove the column")
        slices.append(Slice(item["name"], column, pattern, function))
    if problems:
        raise SchemaError(problems)
    return Schema(tuple(payloads), tuple(tasks), tuple(sources), tuple(slices))


def config_lines(spec: str | Mapping[str, Any]) -> int:
    """Lines of a config as a person writes it: YAML in block style, without blank lines or
    comments (a dict is dumped to block-style YAML first, so both sides count alike)."""
    if not isinstance(spec, str):
        import yaml

        spec = yaml.safe_dump(dict(spec), default_flow_style=False, sort_keys=False)
    return sum(1 for line in spec.splitlines()
               if line.strip() and not line.lstrip().startswith("#"))
