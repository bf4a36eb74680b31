"""Invitation emails that Detective sends to member accounts on CreateMembers.

Delivered through SMTP when configured; otherwise (or when SMTP fails) the message is written
as an ``.eml`` file to an outbox folder, so an operator can read or forward it.
"""

from __future__ import annotations

import datetime
import email.policy
import email.utils
import logging
import os
import pathlib
import secrets
import smtplib
import socket
import ssl
import tempfile
from dataclasses import dataclass
from email.message import EmailMessage

logger = logging.getLogger("gumshoe.mail")

SMTP_TIMEOUT = 10.0
DEFAULT_SENDER = "no-reply@gumshoe.local"


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int = 25
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    sender: str = DEFAULT_SENDER


def _body(
    *,
    member_account_id: str,
    administrator_account_id: str,
    graph_arn: str,
    region: str,
    message: str | None,
    endpoint_url: str | None,
) -> str:
    endpoint = endpoint_url or "<gumshoe endpoint URL>"
    lines = [
        "Hello,",
        "",
        f"AWS account {administrator_account_id} has invited your account ({member_account_id})",
        "to contribute its data to an Amazon Detective behavior graph as a member account.",
        "",
        f"  Behavior graph: {graph_arn}",
        f"  Region:         {region}",
        f"  Administrator:  {administrator_account_id}",
        "",
    ]
    if message:
        lines += ["The administrator included this message:", "", message, ""]
    lines += [
        "To see your pending invitations, run:",
        "",
        f"  aws detective list-invitations --region {region} --endpoint-url {endpoint}",
        "",
        "To accept this one, run:",
        "",
        f"  aws detective accept-invitation --graph-arn {graph_arn} \\",
        f"      --region {region} --endpoint-url {endpoint}",
        "",
        "If you do not expect this invitation, you can ignore it or reject it with",
        "`aws detective reject-invitation --graph-arn ...`.",
        "",
        "-- Gumshoe (self-hosted Amazon Detective)",
    ]
    return "\n".join(lines) + "\n"


class InvitationMailer:
    def __init__(
        self,
        outbox_dir: pathlib.Path,
        smtp: SmtpSettings | None = None,
        *,
        endpoint_url: str | None = None,
    ) -> None:
        self.outbox_dir = pathlib.Path(outbox_dir)
        self.smtp = smtp
        self.endpoint_url = endpoint_url

    def build(
        self,
        *,
        to_address: str,
        member_account_id: str,
        administrator_account_id: str,
        graph_arn: str,
        region: str,
        message: str | None,
    ) -> EmailMessage:
        sender = self.smtp.sender if self.smtp else DEFAULT_SENDER
        subject = f"Amazon Detective invitation from account {administrator_account_id}"
        body = _body(
            member_account_id=member_account_id,
            administrator_account_id=administrator_account_id,
            graph_arn=graph_arn,
            region=region,
            message=message,
            endpoint_url=self.endpoint_url,
        )
        # 7bit keeps the long CLI lines copy-pasteable in the raw .eml; non-ASCII text or
        # lines beyond SMTP's 998-octet limit get the default safe encoding instead.
        plain = body.isascii() and max(map(len, body.splitlines())) <= 998
        # An explicit domain: make_msgid's default looks up the host's FQDN, which can stall.
        domain = sender.rpartition("@")[2] or "gumshoe.local"
        if plain and subject.isascii() and to_address.isascii() and sender.isascii():
            # All ASCII: compat32 writes the same message without the header registry's
            # parsing, a third of the cost (CreateMembers sends up to 50 at once).
            msg = EmailMessage(policy=email.policy.compat32)
            for name, value in (
                ("From", sender), ("To", to_address), ("Subject", subject),
                ("Date", email.utils.format_datetime(datetime.datetime.now(datetime.UTC))),
                ("Message-ID", email.utils.make_msgid(domain=domain)), ("MIME-Version", "1.0"),
                ("Content-Type", 'text/plain; charset="utf-8"'), ("Content-Transfer-Encoding", "7bit"),
            ):
                if "\n" in value or "\r" in value:
                    raise ValueError(f"a line break in the {name} header")
                msg[name] = value
            msg.set_payload(body)
            return msg
        msg = EmailMessage()
        msg["From"] = sender
        msg["To"] = to_address
        msg["Subject"] = subject
        msg["Date"] = email.utils.format_datetime(datetime.datetime.now(datetime.UTC))
        msg["Message-ID"] = email.utils.make_msgid(domain=domain)
        msg.set_content(body, cte="7bit" if plain else None)
        return msg

    def send_invitation(
        self,
        *,
        to_address: str,
        member_account_id: str,
        administrator_account_id: str,
        graph_arn: str,
        region: str,
        message: str | None,
    ) -> str:
        """Deliver the invitation; return where it went, or "" if it could not be kept anywhere.

        Never raises: a mail problem must not fail the CreateMembers call that caused it.
        """
        try:
            msg = self.build(
                to_address=to_address,
                member_account_id=member_account_id,
                administrator_account_id=administrator_account_id,
                graph_arn=graph_arn,
                region=region,
                message=message,
            )
        except (ValueError, TypeError):
            logger.exception(
                "invitation for account %s to %r not sent", member_account_id, to_address
            )
            return ""

        smtp_error: Exception | None = None
        if self.smtp is not None:
            try:
                self._send_smtp(msg, self.smtp)
            except OSError as exc:  # smtplib.SMTPException and ssl.SSLError included
                smtp_error = exc
            else:
                where = f"smtp://{self.smtp.host}:{self.smtp.port}"
                logger.info(
                    "invitation for account %s sent to %s via %s",
                    member_account_id,
                    to_address,
                    where,
                )
                return where

        try:
            path = self._write_outbox(msg, member_account_id)
        except OSError:
            logger.exception(
                "invitation for account %s to %s lost: outbox not writable",
                member_account_id,
                to_address,
            )
            return ""
        if smtp_error is not None and self.smtp is not None:
            logger.warning(
                "invitation for account %s to %s: SMTP %s:%d failed (%s); written to %s",
                member_account_id,
                to_address,
                self.smtp.host,
                self.smtp.port,
                smtp_error,
                path,
            )
        else:
            logger.info(
                "invitation for account %s to %s written to %s", member_account_id, to_address, path
            )
        return str(path)

    def _send_smtp(self, msg: EmailMessage, smtp: SmtpSettings) -> None:
        # local_hostname given so EHLO does not wait on a reverse DNS lookup of this host.
        with smtplib.SMTP(
            smtp.host, smtp.port, timeout=SMTP_TIMEOUT, local_hostname=socket.gethostname()
        ) as client:
            if smtp.starttls:
                client.starttls(context=ssl.create_default_context())
            if smtp.username is not None:
                client.login(smtp.username, smtp.password or "")
            client.send_message(msg)

    def _write_outbox(self, msg: EmailMessage, member_account_id: str) -> pathlib.Path:
        self.outbox_dir.mkdir(parents=True, exist_ok=True)
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
        path = self.outbox_dir / f"{stamp}-{member_account_id}-{secrets.token_hex(4)}.eml"
        data = msg.as_bytes() if msg.policy is email.policy.compat32 else msg.as_bytes(policy=email.policy.default)
        fd, tmp = tempfile.mkstemp(dir=self.outbox_dir, prefix=".", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, path)
        except BaseException:
            pathlib.Path(tmp).unlink(missing_ok=True)
            raise
        return path
