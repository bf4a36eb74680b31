"""One module per log format; see base.py for the contract they share.

A reader module holds its format's whole story: how to recognize it (``sniff``), how to read
it (``read``), the raw table its records fill in a behavior graph (``RAW_TABLE``, ``RAW_DDL``,
``RAW_COLUMNS``) and the entities, links and hourly panels derived from them (``DERIVED``).
``READERS`` is the sniffing order; the graph store builds its tables from the same list.
"""

from __future__ import annotations

from types import ModuleType

from gumshoe.formats import asff, cloudtrail, eks_audit, guardduty, vpcflow

# Sniffing order: the most specific formats first.
READERS: tuple[ModuleType, ...] = (cloudtrail, guardduty, asff, eks_audit, vpcflow)
READERS_BY_KIND: dict[str, ModuleType] = {r.KIND: r for r in READERS}
