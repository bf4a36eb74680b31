"""An upload's objects: one object, or the regular-file members of a plain tar, read in place."""

from __future__ import annotations

import io
import tarfile

import pytest

from gumshoe.errors import ValidationException
from gumshoe.ingest.uploads import uploaded_objects


def tar_of(members: dict[str, bytes], symlink: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
        if symlink:
            link = tarfile.TarInfo(symlink)
            link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
            archive.addfile(link)
    return buffer.getvalue()


def test_the_members_of_a_tar_are_objects_read_in_place_never_extracted(tmp_path):
    spool = tmp_path / "upload.part"
    spool.write_bytes(tar_of({"AWSLogs/1/a.json": b'{"Records": []}', "../../escape.json": b"[1]"},
                             symlink="link.json"))
    objects = uploaded_objects(spool, name="", source="logs", digest="d", size=spool.stat().st_size,
                               content_type="application/x-tar")
    assert [o.key for o in objects] == ["AWSLogs/1/a.json", "../../escape.json"]  # no link: regular files only
    assert [o.open().read() for o in objects] == [b'{"Records": []}', b"[1]"]
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["upload.part"]  # nothing written anywhere
    assert not (tmp_path.parent / "escape.json").exists()
    # Known by content: the same bytes in another upload are the same object.
    again = tmp_path / "again.part"
    again.write_bytes(tar_of({"other-name.json": b"[1]"}))
    other = uploaded_objects(again, name="", source="logs", digest="e", size=again.stat().st_size,
                             content_type="application/x-tar")
    assert other[0].version == objects[1].version and other[0].identity == objects[1].identity


def test_a_body_that_is_not_a_tar_is_refused_clearly(tmp_path):
    spool = tmp_path / "upload.part"
    spool.write_bytes(b"not a tar at all" * 100)
    with pytest.raises(ValidationException, match="not a plain tar"):
        uploaded_objects(spool, name="", source="x", digest="d", size=1600, content_type="application/x-tar")
    with pytest.raises(ValidationException, match="name is required"):
        uploaded_objects(spool, name="", source="x", digest="d", size=1600, content_type="application/octet-stream")
