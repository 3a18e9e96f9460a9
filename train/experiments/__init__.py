"""Experiments that reproduce the paper's tables and figures on data at hand."""
