"""One module per log format; see base.py for the contract they share."""
