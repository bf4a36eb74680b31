"""Gumshoe: a self-hosted Amazon Detective."""

__version__ = "0.1.0"
