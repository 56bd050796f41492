"""Eval widgets: the "add to dataset" control other pages embed, and the run views.

`add_to_dataset(call_id)` is the one call the chat page (after a thumbs-down)
and the monitoring drill-down need: it copies the logged call's stored
(redacted) text into a dataset as a new case.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import streamlit as st

from app import auth, handles
from app.widgets import format_cost, format_ms
from core.evals import DatasetError, DatasetStore, EvalStore
from core.evals.models import EvalResult
from core.evals.results import column_label

NEW = "New dataset…"


def add_to_dataset(call_id: int, *, key: str | None = None) -> None:
    """A small form: pick or name a dataset, and add this call to it as a case."""
    key = key or f"evals.add.{call_id}"
    store = DatasetStore(handles.services().db)
    names = [d.name for d in store.list()]
    with st.popover("Add to dataset", icon=":material/playlist_add:"):
        choice = st.selectbox("Dataset", [*names, NEW], key=f"{key}.pick")
        name = choice
        if choice == NEW:
            name = st.text_input("New dataset name", key=f"{key}.name",
                                 placeholder="bad-answers")
        if st.button("Add this call", key=f"{key}.go", type="primary",
                     disabled=not auth.can("evals.run")):
            who = auth.require("evals.run")
            try:
                version = store.add_from_call(call_id, name or "", user=who.name)
            except DatasetError as err:
                st.error(str(err))
            else:
                info = store.get(version)
                auth.record("dataset.add_call", f"{info.name} v{info.version}",
                            after={"call_id": call_id})
                st.success(f"Added to {info.name} (version {info.version}, {info.cases} cases).")


# -- run views ------------------------------------------------------------------
def _cell_mark(cells: list[EvalResult]) -> str:
    if any(c.status == "error" for c in cells):
        return "⚠ error"
    passed = sum(c.passed for c in cells)
    mark = "✓" if passed == len(cells) else "✗"
    if len(cells) == 1:
        blocked = " blocked" if cells[0].status == "blocked" else ""
        return f"{mark} {cells[0].score:.2f}{blocked}"
    return f"{mark} {passed}/{len(cells)}"


def _colour(value: Any) -> str:
    text = str(value)
    if text.startswith("✓"):
        return "background-color: #d4edda; color: #155724"
    if text.startswith("✗"):
        return "background-color: #f8d7da; color: #721c24"
    if text.startswith("⚠"):
        return "background-color: #fff3cd; color: #856404"
    return ""


def matrix(store: EvalStore, run_id: int) -> pd.io.formats.style.Styler | None:
    """Cases down, prompt × model across; each cell ✓/✗ with its score (or passes/repeats)."""
    grid = store.matrix(run_id)
    if not grid:
        return None
    columns = [column_label(p, m) for p, m in store.columns(run_id)]
    rows = [{"case": case, **{c: _cell_mark(cols[c]) if c in cols else "" for c in columns}}
            for case, cols in grid.items()]
    frame = pd.DataFrame(rows).set_index("case")
    return frame.style.map(_colour)


def cell_options(store: EvalStore, run_id: int) -> dict[str, list[EvalResult]]:
    """"case · column" -> that cell's repeats, failing and errored cells first."""
    cells: dict[str, list[EvalResult]] = {}
    for case, cols in store.matrix(run_id).items():
        for col, results in cols.items():
            cells[f"{case} · {col}"] = results
    def rank(item: tuple[str, list[EvalResult]]) -> int:
        results = item[1]
        if any(r.status == "error" for r in results):
            return 1
        return 0 if not all(r.passed for r in results) else 2
    return dict(sorted(cells.items(), key=rank))


def cell_label(name: str, results: list[EvalResult]) -> str:
    return f"{_cell_mark(results)} — {name}"


def cell_detail(results: list[EvalResult], expected: str | None = None) -> None:
    """Each repeat of one cell: output, every assertion's reason, tokens, cost, latency."""
    for r in results:
        head = f"Repeat {r.repeat + 1}" if len(results) > 1 else "Answer"
        st.markdown(f"**{head}** · {column_label(r.prompt, r.model)}")
        figures = [f"{r.input_tokens} → {r.output_tokens} tokens", format_cost(r.cost_usd),
                   f"latency {format_ms(r.latency_ms)}", f"TTFT {format_ms(r.ttft_ms)}"]
        if r.cached:
            figures.append("answered from the eval cache")
        if r.call_id:
            figures.append(f"call #{r.call_id}")
        if r.status == "error":
            st.error(r.error or "This cell failed.")
        elif r.status == "blocked":
            st.warning(r.error or "A guardrail policy blocked this call.")
        if r.output:
            st.code(r.output, language=None, wrap_lines=True)
        elif r.status == "ok":
            st.caption("The model returned an empty answer.")
        st.caption(" · ".join(figures))
        if r.assertions:
            lines = []
            for a in r.assertions:
                mark = ":green[✓]" if a["passed"] else ":red[✗]"
                note = " · information only" if not a["weight"] else (
                    f" · weight {a['weight']:g}" if a["weight"] != 1 else "")
                lines.append(f"- {mark} **{a['name']}**: {a['reason']} "
                             f"(score {a['score']:.2f}{note})")
            st.markdown("\n".join(lines))
            verdict = "passed" if r.passed else "failed"
            st.caption(f"Weighted score {r.score:.2f}: the case {verdict}.")
    if expected:
        st.markdown("**Expected**")
        st.code(expected, language=None, wrap_lines=True)
