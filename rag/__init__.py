"""Answering: retrieve -> answer -> cite. Reads the index written by ``ingest``."""
