"""Ingestion: load -> clean -> split -> embed -> store. Writes the index; never imports rag."""
