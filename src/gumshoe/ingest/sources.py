"""Where logs come from: local files and folders, and S3 locations.

A source lists its objects; each ``SourceObject`` names itself (source + key), says which
version it is (S3's ETag, or a local file's size and modification time) and opens as a
decompressed byte stream (gzip is recognized by its magic number, whatever the name), of at
most ``max_object_bytes`` unpacked (``base.MAX_OBJECT_BYTES`` by default): reading past them
raises ``base.ObjectTooLarge``, which the readers turn into the object's last reject. A
local line file that grows is read in parts (growing.py): a ``SourceObject`` with a
``part`` opens as those bytes of the file.

AWS's delivery layout is read as a hint for the account and Region of records that do not
carry them (a flow-log row before version 4 has no Region):

    AWSLogs/[o-orgid/]<account>/CloudTrail/<region>/YYYY/MM/DD/...
    AWSLogs/[o-orgid/]<account>/vpcflowlogs/<region>/YYYY/MM/DD/...
"""

from __future__ import annotations

import gzip
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, cast

from gumshoe.formats import base
from gumshoe.formats.base import Limited, Rejoined
from gumshoe.ingest.growing import Bounded, Part

_LAYOUT = re.compile(r"AWSLogs/(?:o-[a-z0-9]+/)?(\d{12})/([A-Za-z0-9_-]+)/([a-z]{2}(?:-[a-z]+)+-\d)/")
GZIP_MAGIC = b"\x1f\x8b"
# Files that are never logs (a delivery bucket's digest folders, our own temp files).
_SKIP = re.compile(r"(^|/)(\.[^/]*|CloudTrail-Digest/.*|.*\.(md|txt\.sig|sha256|digest))$")


@dataclass(frozen=True)
class SourceObject:
    source: str  # the source as configured: a folder, a file or s3://bucket/prefix
    key: str  # the object's path inside the source
    size: int
    version: str  # etag, or "<size>-<mtime_ns>"
    open_raw: Callable[[], BinaryIO]
    identity: str = ""  # where the object is, however it was reached: an absolute path, s3://bucket/key
    local: bool = False  # a local file (it may grow); S3 objects never change, a new one replaces them
    modified_ns: int = 0  # a local file's modification time
    part: Part | None = None  # bytes of a growing line file; None: the whole object
    # The account whose ingestion named or sent the object ("" for the operator's configured
    # sources). Its records are checked against that account (pipeline.Permit), and it is
    # ledgered apart from the same object read for anyone else: one caller's refused read
    # never keeps the object from its rightful owner.
    owner: str = ""

    @property
    def location(self) -> str:
        where = self.identity or f"{self.source}/{self.key}"
        return f"{self.owner}@{where}" if self.owner else where

    @property
    def ref(self) -> str:
        """The object's name in the ledger: the same file or S3 object listed through another
        folder, prefix or spelling of a path is the same object."""
        return f"{self.location}|{self.part.tag if self.part is not None else self.version}"

    @property
    def hint(self) -> tuple[str, str]:
        """(account, region) from the delivery layout, or ("", "")."""
        # The key, or the whole path: a source may be a folder inside the layout
        # (AWSLogs/<account>/vpcflowlogs/<region>/ itself).
        match = _LAYOUT.search(self.key) or _LAYOUT.search(self.identity)
        return (match.group(1), match.group(3)) if match else ("", "")

    def open(self, limit: int | None = None) -> BinaryIO:
        """The object's bytes, decompressed; reading more than ``limit`` of them (None:
        base.MAX_OBJECT_BYTES) raises base.ObjectTooLarge. A part of a growing file is read
        as far as it was cut (a plain file: its size is known before reading; the pipeline
        decides how large a part may be)."""
        limit = base.MAX_OBJECT_BYTES if limit is None else limit
        raw = self.open_raw()
        if self.part is not None:  # a plain file, never gzip
            raw.seek(self.part.start)
            return Bounded(raw, self.part.end - self.part.start)  # type: ignore[return-value]
        return unpacked(raw, limit)


def unpacked(raw: BinaryIO, limit: int) -> BinaryIO:
    """An object's bytes as stored, decompressed when gzip (by its magic number), read up to
    ``limit`` (past it: base.ObjectTooLarge)."""
    head = raw.read(2)
    rest = Rejoined(head, raw)
    if head == GZIP_MAGIC:
        return cast(BinaryIO, Limited(gzip.GzipFile(fileobj=cast(BinaryIO, rest), mode="rb"), limit))
    return cast(BinaryIO, Limited(rest, limit))


def layout_name(path: str, key: str) -> str:
    """A name for an object that keeps its place in AWS's delivery layout (the part of the
    path from ``AWSLogs/`` on), or its key."""
    at = path.find("AWSLogs/")
    return path[at:] if at >= 0 else key


def list_objects(location: str, *, s3_endpoint_url: str = "") -> Iterator[SourceObject]:
    """The objects of a location (local files with their modification time: the pipeline
    leaves a file still being written for a later scan, or reads its complete lines)."""
    if location.startswith("s3://"):
        yield from _s3_objects(location, s3_endpoint_url)
    else:
        yield from _local_objects(location)


def _local_objects(location: str) -> Iterator[SourceObject]:
    root = Path(location).expanduser()
    if root.is_file():
        paths = [(root, root.name)]
    elif root.is_dir():
        paths = [(p, p.relative_to(root).as_posix()) for p in sorted(root.rglob("*")) if p.is_file()]
    else:
        raise FileNotFoundError(f"no such file or folder: {location}")
    for path, key in paths:
        if _SKIP.search(key):
            continue
        stat = path.stat()
        yield SourceObject(str(root), key, stat.st_size, f"{stat.st_size}-{stat.st_mtime_ns}",
                           lambda p=path: p.open("rb"), str(path.resolve()),  # type: ignore[misc]
                           local=True, modified_ns=stat.st_mtime_ns)


def _s3_objects(location: str, endpoint_url: str) -> Iterator[SourceObject]:
    import boto3  # only S3 sources need it

    bucket, _, prefix = location[len("s3://"):].partition("/")
    if not bucket:
        raise ValueError(f"not an S3 location: {location} (expected s3://bucket/prefix)")
    client = boto3.client("s3", endpoint_url=endpoint_url or None)
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            key = item["Key"]
            if key.endswith("/") or _SKIP.search(key):
                continue
            yield SourceObject(
                location, key, int(item["Size"]), item["ETag"].strip('"'),
                lambda k=key: client.get_object(Bucket=bucket, Key=k)["Body"],  # type: ignore[misc]
                f"s3://{bucket}/{key}",
            )
