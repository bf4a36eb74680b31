"""Threat-intelligence lists: files of flagged IP addresses and networks (FLAGGED_IP_ADDRESS).

A list is a text file with one IPv4 or IPv6 address or CIDR network a line; blank lines and
everything after ``#`` are ignored. A line that is neither is counted as skipped and logged,
never fatal: a list downloaded from a feed often carries a header or two.

Files are re-read when their size or modification time changes, so a user can replace a list
while the server runs; the next investigation uses the new one.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("gumshoe.investigate")

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class _Loaded:
    stamp: tuple[int, int] | None
    # prefix length -> network addresses (as integers) of that length, per IP version
    networks: dict[tuple[int, int], frozenset[int]]
    entries: int
    skipped: int
    error: str = ""  # why the file could not be read, "" when it was


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def _parse(path: Path) -> _Loaded:
    stamp = _stamp(path)
    by_prefix: dict[tuple[int, int], set[int]] = {}
    entries = skipped = 0
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        log.warning("threat-intel list %s cannot be read (%s): it flags nothing until it can", path, exc)
        return _Loaded(stamp, {}, 0, 0, exc.strerror or str(exc))
    for line in text.splitlines():
        item = line.split("#", 1)[0].strip()
        if not item:
            continue
        try:
            net = ipaddress.ip_network(item, strict=False)
        except ValueError:
            skipped += 1
            continue
        by_prefix.setdefault((net.version, net.prefixlen), set()).add(int(net.network_address))
        entries += 1
    if skipped:
        log.warning("threat-intel list %s: %d lines are not IP addresses or CIDR networks, skipped", path, skipped)
    return _Loaded(stamp, {k: frozenset(v) for k, v in by_prefix.items()}, entries, skipped)


class ThreatIntel:
    """The union of the configured lists, answering "is this address flagged?"."""

    def __init__(self, paths: tuple[str, ...] | list[str]) -> None:
        self.paths = [Path(p).expanduser() for p in paths]
        self._lists: dict[Path, _Loaded] = {}
        self._lock = threading.Lock()
        self.refresh()

    @property
    def configured(self) -> bool:
        return bool(self.paths)

    @property
    def entries(self) -> int:
        return sum(loaded.entries for loaded in self._lists.values())

    def unreadable(self) -> list[tuple[Path, str]]:
        """The configured lists that could not be read at the last refresh, with the reason."""
        return [(path, loaded.error) for path, loaded in self._lists.items() if loaded.error]

    def refresh(self) -> bool:
        """Re-read every list whose file changed; True when any did."""
        changed = False
        with self._lock:
            for path in self.paths:
                loaded = self._lists.get(path)
                if loaded is None or loaded.stamp != _stamp(path):
                    self._lists[path] = _parse(path)
                    changed = True
        return changed

    def flagged(self, ip: str) -> bool:
        try:
            address: Address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        value, bits = int(address), address.max_prefixlen
        for loaded in self._lists.values():
            for (version, prefix), networks in loaded.networks.items():
                if version == address.version and (value >> (bits - prefix)) << (bits - prefix) in networks:
                    return True
        return False
