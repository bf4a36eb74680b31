"""Log objects a caller uploaded: the body of ``POST /_gumshoe/v1/upload``, spooled to a file.

The body is one object (named by the ``name`` query parameter) or, sent as
``application/x-tar``, a plain (uncompressed) tar of many, each member an object named by
its path in the archive; ``gumshoe ingest`` sends batches so that a folder of small files is
loaded in few units. Members are never extracted: an object is read straight out of the spool
file, so member names are only names (a ``../`` in one leads nowhere). Each object is known
to the ledger by the SHA-256 of its bytes, so the same file uploaded again, alone or in
another batch, is the same object.
"""

from __future__ import annotations

import hashlib
import tarfile
from pathlib import Path
from typing import BinaryIO, cast

from gumshoe.errors import ValidationException
from gumshoe.ingest.growing import Bounded
from gumshoe.ingest.sources import SourceObject

TAR_TYPE = "application/x-tar"
MAX_MEMBERS = 10_000  # objects in one upload


def uploaded_objects(spool: Path, *, name: str, source: str, digest: str, size: int,
                     content_type: str) -> list[SourceObject]:
    """The objects of an upload body (spooled, its size and digest known)."""
    if content_type.split(";", 1)[0].strip().lower() != TAR_TYPE:
        if not name:
            raise ValidationException("name is required for a single object: its path as the client has it, "
                                      "for example AWSLogs/111122223333/CloudTrail/us-east-1/...json.gz.")
        return [SourceObject(source, name.lstrip("/"), size, digest, lambda: spool.open("rb"),
                             identity=f"upload:{digest}")]
    return [_member_object(spool, source, member) for member in _members(spool)]


def _members(spool: Path) -> list[tarfile.TarInfo]:
    try:
        with tarfile.open(spool, mode="r:") as archive:
            members = []
            for member in archive:
                if member.isfile():
                    members.append(member)
                if len(members) > MAX_MEMBERS:
                    raise ValidationException(f"An upload holds at most {MAX_MEMBERS:,} objects: send more requests.")
    except tarfile.TarError as exc:
        raise ValidationException(f"The body is not a plain tar archive ({exc}): send one object, or a tar of "
                                  "objects as application/x-tar.") from None
    return members


def _member_object(spool: Path, source: str, member: tarfile.TarInfo) -> SourceObject:
    def open_member() -> BinaryIO:
        file = spool.open("rb")
        file.seek(member.offset_data)
        return cast(BinaryIO, Bounded(file, member.size))

    digest = hashlib.sha256()
    with open_member() as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    name = member.name.lstrip("/")[:1024]
    return SourceObject(source, name, member.size, digest.hexdigest(), open_member,
                        identity=f"upload:{digest.hexdigest()}")
