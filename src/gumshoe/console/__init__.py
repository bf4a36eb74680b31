"""The web console at /console/: sign in, accounts, a graph's summary, search, entity
profiles with their timelines and raw events, investigations. See docs/CONSOLE.md."""

from gumshoe.console.app import Console

__all__ = ["Console"]
