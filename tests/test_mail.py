from __future__ import annotations

import base64
import email.parser
import email.policy
import email.utils
import logging
import pathlib
import re
import socket
import socketserver
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage

import pytest

from gumshoe.mail import InvitationMailer, SmtpSettings

ADMIN = "111111111111"
MEMBER = "222222222222"
GRAPH = "arn:aws:detective:us-east-1:111111111111:graph:027c7c4610ea4aacaf0b883093cab899"
ENDPOINT = "http://localhost:4566"


@dataclass
class Delivery:
    mail_from: str
    rcpt_to: list[str]
    data: bytes


@dataclass
class Mailbox:
    deliveries: list[Delivery] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    reject_recipients: bool = False


class _SmtpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, mailbox: Mailbox) -> None:
        super().__init__(("127.0.0.1", 0), _SmtpHandler)
        self.mailbox = mailbox


class _SmtpHandler(socketserver.StreamRequestHandler):
    """Just enough of RFC 5321 (plus AUTH PLAIN) for smtplib to deliver one message."""

    server: _SmtpServer

    def reply(self, *lines: str) -> None:
        self.wfile.write(b"".join(line.encode() + b"\r\n" for line in lines))

    def handle(self) -> None:
        box = self.server.mailbox
        self.reply("220 test.invalid ESMTP ready")
        mail_from, rcpt_to = "", list[str]()
        while raw := self.rfile.readline():
            verb, _, arg = raw.decode().rstrip("\r\n").partition(" ")
            verb = verb.upper()
            if verb == "EHLO":
                self.reply("250-test.invalid", "250-AUTH PLAIN", "250 8BITMIME")
            elif verb == "HELO":
                self.reply("250 test.invalid")
            elif verb == "AUTH":
                mechanism, _, initial = arg.partition(" ")
                if mechanism.upper() != "PLAIN":
                    self.reply("504 unsupported mechanism")
                    continue
                if not initial:
                    self.reply("334 ")
                    initial = self.rfile.readline().decode().strip()
                _, user, password = base64.b64decode(initial).decode().split("\0")
                box.logins.append((user, password))
                self.reply("235 2.7.0 authenticated")
            elif verb == "MAIL":
                mail_from, rcpt_to = arg, []
                self.reply("250 OK")
            elif verb == "RCPT":
                if box.reject_recipients:
                    self.reply("550 no such user")
                else:
                    rcpt_to.append(arg)
                    self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 end with <CRLF>.<CRLF>")
                lines = []
                while (line := self.rfile.readline()) not in (b".\r\n", b""):
                    lines.append(line[1:] if line.startswith(b"..") else line)
                box.deliveries.append(Delivery(mail_from, rcpt_to, b"".join(lines)))
                self.reply("250 OK queued")
            elif verb in ("RSET", "NOOP"):
                self.reply("250 OK")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 command not implemented")


@pytest.fixture
def smtp_server() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    server = _SmtpServer(box)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield box, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def invite(mailer: InvitationMailer, message: str | None = None) -> str:
    return mailer.send_invitation(
        to_address="root@member.example",
        member_account_id=MEMBER,
        administrator_account_id=ADMIN,
        graph_arn=GRAPH,
        region="us-east-1",
        message=message,
    )


def parse(data: bytes) -> EmailMessage:
    msg = email.parser.BytesParser(policy=email.policy.default).parsebytes(data)
    assert isinstance(msg, EmailMessage)
    return msg


def body_of(msg: EmailMessage) -> str:
    text: str = msg.get_content()
    return text


def check_invitation(msg: EmailMessage, sender: str = "no-reply@gumshoe.local") -> str:
    assert msg["From"] == sender
    assert msg["To"] == "root@member.example"
    assert msg["Subject"] == f"Amazon Detective invitation from account {ADMIN}"
    assert email.utils.parsedate_to_datetime(msg["Date"]).tzinfo is not None
    assert re.fullmatch(r"<[^<>@\s]+@[^<>@\s]+>", msg["Message-ID"])
    assert msg.get_content_type() == "text/plain"
    body = body_of(msg)
    assert ADMIN in body and MEMBER in body
    assert GRAPH in body
    assert "us-east-1" in body
    assert f"aws detective accept-invitation --graph-arn {GRAPH}" in body
    assert "aws detective list-invitations" in body
    return body


def test_outbox_when_no_smtp(tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture) -> None:
    outbox = tmp_path / "outbox"
    mailer = InvitationMailer(outbox, endpoint_url=ENDPOINT)
    with caplog.at_level(logging.INFO, logger="gumshoe.mail"):
        where = invite(mailer)

    path = pathlib.Path(where)
    assert path.parent == outbox
    assert re.fullmatch(rf"\d{{8}}T\d{{6}}Z-{MEMBER}-[0-9a-f]{{8}}\.eml", path.name)
    assert list(outbox.iterdir()) == [path]  # no temp file left behind
    body = check_invitation(parse(path.read_bytes()))
    assert f"--endpoint-url {ENDPOINT}" in body
    assert "included this message" not in body

    mail_logs = [r for r in caplog.records if r.name == "gumshoe.mail"]
    assert len(mail_logs) == 1 and where in mail_logs[0].getMessage()


def test_custom_message_is_included(tmp_path: pathlib.Path) -> None:
    mailer = InvitationMailer(tmp_path)
    note = "Bienvenue à bord: please accept by Friday."
    where = invite(mailer, message=note)
    body = check_invitation(parse(pathlib.Path(where).read_bytes()))
    assert note in body


def test_long_custom_message_stays_smtp_safe(tmp_path: pathlib.Path) -> None:
    note = "x" * 1000  # Detective allows messages of up to 1000 characters
    raw = pathlib.Path(invite(InvitationMailer(tmp_path), message=note)).read_bytes()
    assert max(len(line) for line in raw.splitlines()) <= 998
    assert note in check_invitation(parse(raw))


def test_each_invitation_gets_its_own_file(tmp_path: pathlib.Path) -> None:
    mailer = InvitationMailer(tmp_path)
    paths = {invite(mailer) for _ in range(5)}
    assert len(paths) == 5
    assert len(list(tmp_path.glob("*.eml"))) == 5
    ids = {parse(pathlib.Path(p).read_bytes())["Message-ID"] for p in paths}
    assert len(ids) == 5


def test_smtp_delivery(
    tmp_path: pathlib.Path, smtp_server: tuple[Mailbox, int], caplog: pytest.LogCaptureFixture
) -> None:
    box, port = smtp_server
    settings = SmtpSettings(host="127.0.0.1", port=port, sender="detective@gumshoe.test")
    mailer = InvitationMailer(tmp_path / "outbox", settings, endpoint_url=ENDPOINT)
    with caplog.at_level(logging.INFO, logger="gumshoe.mail"):
        where = invite(mailer, message="Join us.")

    assert where == f"smtp://127.0.0.1:{port}"
    assert not (tmp_path / "outbox").exists()
    [delivery] = box.deliveries
    assert delivery.mail_from.startswith("FROM:<detective@gumshoe.test>")
    assert delivery.rcpt_to == ["TO:<root@member.example>"]
    body = check_invitation(parse(delivery.data), sender="detective@gumshoe.test")
    assert "Join us." in body
    assert box.logins == []
    assert len([r for r in caplog.records if r.name == "gumshoe.mail"]) == 1


def test_smtp_login(tmp_path: pathlib.Path, smtp_server: tuple[Mailbox, int]) -> None:
    box, port = smtp_server
    settings = SmtpSettings(host="127.0.0.1", port=port, username="gumshoe", password="s3cret")
    where = invite(InvitationMailer(tmp_path, settings))
    assert where == f"smtp://127.0.0.1:{port}"
    assert box.logins == [("gumshoe", "s3cret")]
    assert len(box.deliveries) == 1


def test_smtp_unreachable_falls_back_to_outbox(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    mailer = InvitationMailer(tmp_path, SmtpSettings(host="127.0.0.1", port=port))
    with caplog.at_level(logging.INFO, logger="gumshoe.mail"):
        where = invite(mailer)
    path = pathlib.Path(where)
    assert path.parent == tmp_path and path.suffix == ".eml"
    check_invitation(parse(path.read_bytes()))
    [log] = [r for r in caplog.records if r.name == "gumshoe.mail"]
    assert log.levelno == logging.WARNING
    assert f"127.0.0.1:{port}" in log.getMessage() and where in log.getMessage()


def test_smtp_rejection_falls_back_to_outbox(
    tmp_path: pathlib.Path, smtp_server: tuple[Mailbox, int]
) -> None:
    box, port = smtp_server
    box.reject_recipients = True
    where = invite(InvitationMailer(tmp_path, SmtpSettings(host="127.0.0.1", port=port)))
    assert pathlib.Path(where).is_file()
    assert box.deliveries == []


def test_bad_address_is_logged_not_raised(
    tmp_path: pathlib.Path, caplog: pytest.LogCaptureFixture
) -> None:
    mailer = InvitationMailer(tmp_path)
    with caplog.at_level(logging.ERROR, logger="gumshoe.mail"):
        where = mailer.send_invitation(
            to_address="root@member.example\r\nBcc: someone@else.example",
            member_account_id=MEMBER,
            administrator_account_id=ADMIN,
            graph_arn=GRAPH,
            region="us-east-1",
            message=None,
        )
    assert where == ""
    assert list(tmp_path.iterdir()) == []
    assert any(r.name == "gumshoe.mail" for r in caplog.records)
