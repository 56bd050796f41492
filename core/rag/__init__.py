"""Retrieval-augmented generation over Chroma."""
