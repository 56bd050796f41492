"""Trellis entry script: `streamlit run app/main.py`."""

import sys
from pathlib import Path

# Streamlit puts only this script's folder on sys.path; core/ and app/ live
# one level up.
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import streamlit as st  # noqa: E402

from app import auth  # noqa: E402
from app.widgets import IN_SHELL, EndPage, sidebar_status  # noqa: E402

PAGES = ROOT / "pages"

st.set_page_config(page_title="Trellis", page_icon=":material/hub:", layout="wide")

who = auth.sign_in_gate()
navigation = st.navigation(
    auth.visible(who, {
        "Build": [
            st.Page(
                PAGES / "chat.py", title="Chat playground", icon=":material/chat:", default=True
            ),
            st.Page(PAGES / "documents.py", title="Documents", icon=":material/description:"),
            st.Page(PAGES / "prompts.py", title="Prompts", icon=":material/edit_note:"),
            st.Page(PAGES / "evals.py", title="Evals", icon=":material/checklist:"),
            st.Page(PAGES / "experiments.py", title="Experiments", icon=":material/science:"),
        ],
        "Configure": [
            st.Page(PAGES / "operations.py", title="Operations", icon=":material/tune:"),
            st.Page(PAGES / "guardrails.py", title="Guardrails", icon=":material/shield:"),
            st.Page(PAGES / "access.py", title="Access", icon=":material/admin_panel_settings:"),
        ],
        "Monitor": [
            st.Page(PAGES / "monitoring_latency.py", title="Latency", icon=":material/speed:"),
            st.Page(PAGES / "monitoring_cost.py", title="Cost", icon=":material/payments:"),
            st.Page(PAGES / "monitoring_errors.py", title="Errors", icon=":material/error:"),
        ],
    })
)
st.session_state[IN_SHELL] = True
try:
    navigation.run()
except EndPage:
    pass  # an empty state: the page said all it had
finally:
    st.session_state.pop(IN_SHELL, None)
    # After the page, so a page's own sidebar controls (the chat's conversations and
    # model settings, the dashboards' filters) come first; in `finally` so a page that
    # stops early (st.stop) still shows which providers work.
    sidebar_status()
