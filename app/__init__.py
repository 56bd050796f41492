"""The Streamlit shell: entry script, shared widgets, cached handles on core."""
