"""Evals: run a suite over prompts × models, read the matrix, compare runs, manage datasets."""

from __future__ import annotations

import tempfile
import threading
from dataclasses import replace
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
import yaml

from app import auth, eval_widgets, handles
from app.state import keep
from app.widgets import format_cost
from core.evals import (
    CaseIn,
    DatasetError,
    DatasetStore,
    EvalStore,
    Runner,
    Suite,
    SuiteError,
    preview_import,
)
from core.evals.assertions import ASSERTIONS
from core.evals.datasets import TARGETS, guess_mapping
from core.evals.gate import evaluate
from core.evals.suite import DEMO_SUITE

auth.page("dashboards.view")  # viewers read runs; running and saving need an editor
writes = auth.can("evals.run")
svc = handles.services()
store = EvalStore(svc.db)
datasets = DatasetStore(svc.db)
runner = Runner(svc)

st.title("Evals")
st.caption("Run a suite of test cases over prompts and models, see which cases pass and why, "
           "and compare two runs before you ship a change.")

SOURCES = ["Demo suite (sample documents)", "A stored dataset", "A suite file (YAML)"]
DEFAULT_CHECKS = "- {type: similar, threshold: 0.6}\n"


def _fmt_eta(seconds: float | None) -> str:
    if seconds is None:
        return "estimating time left…"
    if seconds < 60:
        return f"about {seconds:.0f} s left"
    return f"about {seconds / 60:.0f} min left"


RUN_DONE = "evals.run_done"


def _run_with_progress(run_id: int, *, retry_errors: bool = False) -> None:
    """Run (or resume) a run here, with a progress bar, ETA and a Stop button."""
    info = next(r for r in store.runs() if r.id == run_id)
    bar = st.progress(0.0, text=f"Starting {info.total_cells} cells…")
    st.button("Stop the run", key="evals.stop", icon=":material/stop:",
              help="Stops after the cells in progress; you can resume it later.")
    cancel = threading.Event()

    def on_progress(p) -> None:  # noqa: ANN001
        try:
            bar.progress(p.fraction, text=f"{p.done} of {p.total} cells · {_fmt_eta(p.eta_s)}")
        except BaseException:
            cancel.set()  # the page was rerun (Stop, or the user moved on)
            raise

    runner.run(run_id, progress=on_progress, cancel=cancel, retry_errors=retry_errors)
    bar.empty()
    st.session_state["evals.run"] = run_id
    st.session_state["evals.just_ran"] = run_id
    # The person is still on the Run tab: say there how it went and where to look.
    result = evaluate(store, run_id, runner.suite_of(run_id))
    st.session_state[RUN_DONE] = (result.passed, f"Run finished. {result.sentence} Open the "
                                  "Results tab to see each case and why it passed or failed.")


def _suite_from_upload(suite_file, data_file) -> Suite:  # noqa: ANN001
    with tempfile.TemporaryDirectory() as tmp:
        if data_file is not None:
            (Path(tmp) / data_file.name).write_bytes(data_file.getvalue())
        path = Path(tmp) / "suite.yaml"
        path.write_bytes(suite_file.getvalue())
        suite = Suite.load(path)
    return replace(suite, name=Path(suite_file.name).stem if suite.name == "suite" else suite.name)


def _run_tab() -> None:
    source = st.radio("What to run", SOURCES, key=keep("evals.source", SOURCES[0]),
                      horizontal=True)
    suite: Suite | None = None
    try:
        if source == SOURCES[0]:
            suite = Suite.load(DEMO_SUITE)
            st.caption(f"{len(suite.cases)} questions about the shipped sample documents, each "
                       "checked for the fact a right answer contains.")
        elif source == SOURCES[1]:
            names = [d.name for d in datasets.list()]
            if not names:
                st.info("No datasets yet: create one on the Datasets tab, or run the demo suite.")
                return
            name = st.selectbox("Dataset", names, key=keep("evals.dataset", names[0],
                                                           options=names))
            checks = st.text_area(
                "Checks (YAML list)", key=keep("evals.checks", DEFAULT_CHECKS),
                help="One assertion per line, for example {type: icontains, value: refund}. "
                     f"Types: {', '.join(sorted(ASSERTIONS))}.")
            system = st.text_input("System prompt (optional)", key=keep("evals.system", ""))
            try:
                specs = yaml.safe_load(checks) or []
            except yaml.YAMLError:
                st.error("The checks are not valid YAML; write one {type: …} per line.")
                return
            if not isinstance(specs, list):
                st.error("Write the checks as a list: one line per check, starting with '- '.")
                return
            suite = Suite(name=name, dataset_name=name, models=["default"], asserts=specs,
                          system=system or None)
        else:
            suite_file = st.file_uploader("Suite file", type=["yaml", "yml"],
                                          key="evals.suite_file")
            data_file = st.file_uploader("Its dataset file (if the suite names one)",
                                         type=["jsonl", "csv"], key="evals.data_file")
            if suite_file is None:
                st.info("Upload a suite YAML file; docs/evals.md shows the format.")
                return
            suite = _suite_from_upload(suite_file, data_file)
    except SuiteError as err:
        st.error(str(err))
        return
    assert suite is not None
    models = handles.available_models()
    default = [svc.settings.default_model if m == "default" else m for m in suite.models]
    options = list(dict.fromkeys(models + default))
    c1, c2, c3 = st.columns([3, 1, 1])
    chosen = c1.multiselect("Models", options, key=keep(f"evals.models.{suite.name}", default,
                                                       options=options))
    repeats = c2.number_input("Repeats", 1, 20, key=keep("evals.repeats", 1),
                              help="Run each cell several times to see flaky cases.")
    concurrency = c3.number_input("Calls at once", 1, 32, key=keep("evals.concurrency", 8),
                                  help="How many calls run at the same time. Rate limits and "
                                       "budgets from the Operations page still apply.")
    c4, c5 = st.columns([1, 3])
    use_cache = c4.checkbox("Reuse earlier answers", key=keep("evals.cache", False),
                            help="Identical requests from earlier runs are answered from the "
                                 "eval cache (marked as such); repeats always call the model.")
    label = c5.text_input("Label this run (optional)", key=keep("evals.label", ""),
                          placeholder="production, v5, after-fix…")
    rag = None
    if suite.rag:
        use_docs = st.checkbox(f"Search the '{suite.rag.get('collection')}' documents",
                               key=keep("evals.rag", True))
        rag = suite.rag if use_docs else None
    run_label = "Run the demo suite" if source == SOURCES[0] else "Run the suite"
    if not writes:
        st.caption("Viewers can read runs; ask an editor to run a suite.")
    if st.button(run_label, type="primary", icon=":material/play_arrow:", key="evals.run_button",
                 disabled=not chosen or not writes):
        who = auth.require("evals.run")
        suite = replace(suite, models=list(chosen), repeats=int(repeats),
                        concurrency=int(concurrency), cache=use_cache, rag=rag)
        try:
            with st.spinner("Loading the sample documents for the demo (first run only)…"):
                if runner.ensure_collection(suite):
                    st.toast("Loaded the sample documents.")
            run_id = runner.create_run(suite, label=label.strip() or None, user=who.name)
        except (SuiteError, DatasetError) as err:
            st.error(str(err))
            return
        auth.record("eval.run", f"run #{run_id} ({suite.name})",
                    after={"models": list(chosen), "repeats": int(repeats)})
        _run_with_progress(run_id)
        st.rerun()
    done = st.session_state.pop(RUN_DONE, None)
    if done is not None:
        passed, sentence = done
        (st.success if passed else st.warning)(sentence)
    unfinished = [r for r in store.runs(limit=20) if r.status in ("cancelled", "interrupted",
                                                                  "running")]
    for r in unfinished[:3]:
        cols = st.columns([4, 1])
        cols[0].warning(f"Run {r.title} stopped after {r.done_cells} of {r.total_cells} cells.")
        if cols[1].button("Resume", key=f"evals.resume.{r.id}", disabled=not writes):
            auth.require("evals.run")
            _run_with_progress(r.id)
            st.rerun()


def _results_tab() -> None:
    runs = store.runs()
    if not runs:
        st.info("No runs yet. Choose the demo suite on the Run tab and press Run.")
        return
    ids = [r.id for r in runs]
    titles = {r.id: r.title for r in runs}
    run_id = st.selectbox("Run", ids, format_func=titles.get,
                          key=keep("evals.run", ids[0], options=ids))
    info = next(r for r in runs if r.id == run_id)
    if st.session_state.pop("evals.just_ran", None) == run_id:
        suite = runner.suite_of(run_id)
        result = evaluate(store, run_id, suite)
        (st.success if result.passed else st.warning)(result.sentence)
    m = st.columns(5)
    if info.pass_rate is not None:
        low, high = info.interval
        m[0].metric("Pass rate", f"{info.pass_rate:.0%}",
                    help=f"{info.passed} of {info.graded} graded cells; 95% interval "
                         f"{low:.0%}–{high:.0%} (Wilson).")
    else:
        m[0].metric("Pass rate", "–")
    m[1].metric("Cells", f"{info.done_cells}/{info.total_cells}")
    m[2].metric("Errors", info.errors)
    cost = format_cost(info.cost_usd) + (" + unknown" if info.unknown_cost else "")
    m[3].metric("Cost", cost)
    m[4].metric("Duration", f"{info.duration_s:,.1f} s")
    if info.errors and st.button("Retry the errored cells", key=f"evals.retry.{run_id}",
                                 disabled=not writes):
        auth.require("evals.run")
        _run_with_progress(run_id, retry_errors=True)
        st.rerun()
    flaky = store.flaky(run_id)
    if flaky:
        st.caption(f"Flaky (repeats disagree): {', '.join(flaky)}")
    styled = eval_widgets.matrix(store, run_id)
    if styled is None:
        st.info("This run has no finished cells yet.")
        return
    st.dataframe(styled, width="stretch")
    cells = eval_widgets.cell_options(store, run_id)
    names = list(cells)
    name = st.selectbox("Open a cell", names,
                        format_func=lambda n: eval_widgets.cell_label(n, cells[n]),
                        key=f"evals.cell.{run_id}")
    chosen = cells[name]
    case = store.case(chosen[0].case_id)
    with st.container(border=True):
        if case is not None and case.message:
            st.markdown(f"**Question** {case.message}")
        eval_widgets.cell_detail(chosen, case.expected if case else None)


def _compare_tab() -> None:
    runs = store.runs()
    if len(runs) < 2:
        st.info("Compare needs two runs; run a suite twice (for example with two models).")
        return
    ids = [r.id for r in runs]
    titles = {r.id: r.title for r in runs}
    c1, c2 = st.columns(2)
    a = c1.selectbox("Before (baseline)", ids, format_func=titles.get,
                     key=keep("evals.cmp_a", ids[1], options=ids))
    b = c2.selectbox("After", ids, format_func=titles.get,
                     key=keep("evals.cmp_b", ids[0], options=ids))
    col_a = col_b = None
    cols_a, cols_b = store.columns(a), store.columns(b)
    if len(cols_a) > 1 or len(cols_b) > 1 or a == b:
        label = lambda c: c[1] if c[0] == "plain" else f"{c[0]} · {c[1]}"  # noqa: E731
        col_a = c1.selectbox("Column of the baseline", cols_a, format_func=label,
                             key=f"evals.cmp_col_a.{a}")
        col_b = c2.selectbox("Column of the other run", cols_b, format_func=label,
                             key=f"evals.cmp_col_b.{b}", index=min(1, len(cols_b) - 1))
    comp = store.compare(a, b, column_a=col_a, column_b=col_b)
    if not comp.shared:
        st.warning(comp.verdict)
        return
    (st.error if comp.significant and comp.regressions > comp.fixes
     else st.success if comp.significant else st.info)(comp.verdict)
    m = st.columns(4)
    for col, which, run in ((m[0], "a", a), (m[1], "b", b)):
        passed, n = comp.rate(which)
        from core.evals import wilson

        low, high = wilson(passed, n)
        col.metric(f"Run #{run} pass rate", f"{passed / n:.0%}",
                   help=f"{passed} of {n} shared cases; 95% interval {low:.0%}–{high:.0%}.")
    m[2].metric("Regressions", comp.regressions)
    m[3].metric("Fixes", comp.fixes)
    rows = [{"case": c.case_key, "change": c.kind,
             "before": "–" if c.before is None else ("pass" if c.before else "fail"),
             "after": "–" if c.after is None else ("pass" if c.after else "fail")}
            for c in sorted(comp.changes, key=lambda c: ["regression", "fix", "errored",
                                                          "unchanged"].index(c.kind))]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")


def _history_tab() -> None:
    runs = store.runs()
    if not runs:
        st.info("No runs yet.")
        return
    table = pd.DataFrame([{
        "run": r.id, "suite": r.suite, "label": r.label or "", "started": r.created_at,
        "status": r.status, "pass rate": r.pass_rate,
        "95% interval": f"{r.interval[0]:.0%}–{r.interval[1]:.0%}" if r.graded else "",
        "cells": r.total_cells, "errors": r.errors, "cost": format_cost(r.cost_usd),
        "duration (s)": round(r.duration_s, 1), "models": ", ".join(r.models),
    } for r in runs])
    st.dataframe(table, hide_index=True, width="stretch",
                 column_config={"pass rate": st.column_config.ProgressColumn(
                     "pass rate", format="percent", min_value=0, max_value=1)})
    suites = store.suites()
    suite = st.selectbox("Pass-rate trend for", suites, key=keep("evals.trend", suites[0],
                                                                  options=suites))
    trend = store.trend(suite)
    if not trend:
        st.caption("No graded run of this suite yet.")
        return
    fig = go.Figure(go.Scatter(
        x=[f"#{r.id}" + (f" {r.label}" if r.label else "") for r in trend],
        y=[r.pass_rate for r in trend], mode="lines+markers", name="pass rate",
        error_y={"type": "data", "symmetric": False,
                 "array": [r.interval[1] - (r.pass_rate or 0) for r in trend],
                 "arrayminus": [(r.pass_rate or 0) - r.interval[0] for r in trend]},
        hovertext=[", ".join(r.models) for r in trend]))
    fig.update_layout(yaxis={"tickformat": ".0%", "range": [0, 1.05], "title": "pass rate"},
                      xaxis={"title": "run", "type": "category"}, height=320,
                      margin={"l": 10, "r": 10, "t": 10, "b": 10})
    st.plotly_chart(fig, width="stretch")
    st.caption("Bars are 95% Wilson intervals: runs whose bars overlap may not really differ.")


def _cases_frame(cases: list) -> pd.DataFrame:
    """Cases as a table: variables as "name = value" text; empty columns left out."""
    frame = pd.DataFrame([{
        "key": c.key, "message": c.message or "",
        "variables": "; ".join(f"{k} = {v}" for k, v in (c.variables or {}).items()),
        "expected": c.expected or "", "tags": ", ".join(c.tags or []),
    } for c in cases])
    return frame[[col for col in frame.columns if col == "key" or frame[col].astype(bool).any()]]


def _datasets_tab() -> None:
    infos = datasets.list()
    if infos:
        st.dataframe(pd.DataFrame([{"dataset": d.name, "version": d.version, "cases": d.cases,
                                    "saved": d.created_at} for d in infos]),
                     hide_index=True, width="stretch")
        names = [d.name for d in infos]
        shown = st.selectbox("Show the cases of", names, key=keep("evals.show_ds", names[0],
                                                                  options=names))
        latest = datasets.latest(shown)
        if latest:
            st.dataframe(_cases_frame(datasets.cases(latest)), hide_index=True, width="stretch")
    else:
        st.info("No datasets yet. Create one below or import a CSV or JSONL file.")
    left, right = st.columns(2)
    with left, st.form("evals.new_dataset"):
        st.markdown("**Create by hand**")
        name = st.text_input("Dataset name", key="evals.new_name")
        edited = st.data_editor(pd.DataFrame({"message": [""], "expected": [""], "tags": [""]}),
                                num_rows="dynamic", key="evals.new_cases", width="stretch")
        if st.form_submit_button("Save dataset", disabled=not writes):
            who = auth.require("evals.run")
            cases = [CaseIn(message=str(r["message"] or "").strip() or None,
                            expected=str(r["expected"] or "").strip() or None,
                            tags=[t.strip() for t in str(r["tags"] or "").split(",")
                                  if t.strip()])
                     for r in edited.fillna("").to_dict("records")
                     if str(r["message"] or "").strip()]
            try:
                version = datasets.save(name, cases, user=who.name)
            except DatasetError as err:
                st.error(str(err))
            else:
                info = datasets.get(version)
                auth.record("dataset.save", f"{info.name} v{info.version}")
                st.success(f"Saved {info.name}, version {info.version}, {info.cases} cases.")
    with right:
        st.markdown("**Import a file**")
        upload = st.file_uploader("CSV or JSONL", type=["csv", "jsonl", "tsv"],
                                  key="evals.import_file")
        if upload is None:
            return
        data = upload.getvalue()
        try:
            from core.evals.datasets import read_rows

            columns, _, _ = read_rows(data, upload.name)
        except DatasetError as err:
            st.error(str(err))
            return
        guess = guess_mapping(columns)
        mapping: dict[str, str] = {}
        st.caption("Which column holds what:")
        for target in TARGETS:
            opts = ["(none)", *columns]
            pick = st.selectbox(target, opts, key=f"evals.map.{target}",
                                index=opts.index(guess[target]) if target in guess else 0)
            if pick != "(none)":
                mapping[target] = pick
        as_vars = st.multiselect("Columns to use as input variables",
                                 [c for c in columns if c not in mapping.values()],
                                 key="evals.map.vars")
        for column in as_vars:
            mapping[f"var:{column}"] = column
        preview = preview_import(data, upload.name, mapping)
        st.caption(f"{len(preview.cases)} cases read, {len(preview.bad_rows)} rows left out.")
        if preview.cases:
            st.dataframe(_cases_frame(preview.cases[:20]), hide_index=True, width="stretch")
        if preview.bad_rows:
            st.warning("Rows left out:\n" + "\n".join(
                f"- line {row}: {why}" for row, why in preview.bad_rows[:20]))
        target_name = st.text_input("Save as dataset", value=Path(upload.name).stem,
                                    key="evals.import_name")
        if st.button("Import", key="evals.import_go", disabled=not preview.cases or not writes):
            who = auth.require("evals.run")
            try:
                version, _ = datasets.import_file(target_name, data, upload.name, mapping,
                                                  user=who.name)
            except DatasetError as err:
                st.error(str(err))
            else:
                info = datasets.get(version)
                auth.record("dataset.import", f"{info.name} v{info.version}")
                st.success(f"Imported {info.cases} cases as {info.name}, version {info.version}.")


run_tab, results_tab, compare_tab, history_tab, datasets_tab = st.tabs(
    ["Run", "Results", "Compare", "History", "Datasets"])
with run_tab:
    _run_tab()
with results_tab:
    _results_tab()
with compare_tab:
    _compare_tab()
with history_tab:
    _history_tab()
with datasets_tab:
    _datasets_tab()
