"""Hypothesis strategies and sweeps for JSON inputs: edge values, arbitrary JSON, mutated seeds.

Shared by the parser property tests and the never-500 tests of every HTTP input, so both fuzz
with the same vocabulary.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import strategies as st

# Values that broke or nearly broke a parser somewhere: huge and negative ids, floats at the
# edges, numbers and dates as text (including digits `int()` refuses, "²" and "٣"), wrong types.
EDGE_VALUES: list[Any] = [
        0, -1, 1, 2**63, -(2**63) - 1, 10**19, 10**20 - 1, 1e308, -1e308, 1e-320, 0.1, 0.5,
        -0.0, "", " ", "nan", "inf", "-Infinity", "1e400", "1" * 400, "²", "٣", " 12 ", "-0",
        "0x10", "1_0", "true", "2024-05-01T12:00:00Z", "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-23:59", "2024-13-45", "1714564800", "1714564800000",
        "99999999999999999999", True, False, None, [], {}, "\x00", "a" * 300, "pickup",
        "dropoff", {"x": 1}, [1, 2],
]  # fmt: skip

REMOVE = object()  # in a sweep: the value is removed instead of replaced

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20) + 1, max_value=10**20 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(EDGE_VALUES)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)


def _slots(doc: Any) -> list[tuple[Any, Any]]:
    """(container, key) of every value inside `doc`."""
    found: list[tuple[Any, Any]] = []
    stack = [doc] if isinstance(doc, dict | list) else []
    while stack:
        item = stack.pop()
        pairs = item.items() if isinstance(item, dict) else enumerate(item)
        for key, value in pairs:
            found.append((item, key))
            if isinstance(value, dict | list) and value:
                stack.append(value)
    return found


@st.composite
def mutated(draw: st.DrawFn, seeds: list[Any], *, changes: int = 4, rewrap: bool = False) -> Any:
    """A seed with up to `changes` of its values replaced, removed, wrapped in a list or turned
    into JSON text; with `rewrap`, sometimes the whole object nested in a list or an object."""
    doc = copy.deepcopy(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(0, changes))):
        slots = _slots(doc)
        if not slots:
            break
        container, key = draw(st.sampled_from(slots))
        action = draw(st.sampled_from(["replace", "replace", "delete", "wrap", "stringify"]))
        if action == "delete" and isinstance(container, dict):
            del container[key]
        elif action == "wrap":
            container[key] = [container[key]]
        elif action == "stringify":
            container[key] = json.dumps(container[key])
        else:
            container[key] = draw(json_values)
    if rewrap and isinstance(doc, dict) and not draw(st.integers(0, 7)):
        doc = draw(st.sampled_from([[doc], {"task": doc}]))
    return doc


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The path of every value inside `doc`."""
    found: list[tuple[Any, ...]] = []
    pairs = doc.items() if isinstance(doc, dict) else enumerate(doc)
    for key, value in pairs:
        found.append((*prefix, key))
        if isinstance(value, dict | list):
            found.extend(_paths(value, (*prefix, key)))
    return found


def every_edge_mutation(seed: Any, edges: list[Any] = EDGE_VALUES) -> list[Any]:
    """`seed` with one value set to one of `edges` (or removed), for every value and edge."""
    out = []
    for path in _paths(seed):
        for edge in [*edges, REMOVE]:
            doc = copy.deepcopy(seed)
            container = doc
            for key in path[:-1]:
                container = container[key]
            if edge is REMOVE:
                if isinstance(container, dict):
                    del container[path[-1]]
            else:
                container[path[-1]] = copy.deepcopy(edge)
            out.append(doc)
    return out
