"""Trellis core engine: usable from a script, a test, the CLI or the app alike.

Nothing in this package imports streamlit or anything under app/ or pages/.
"""
