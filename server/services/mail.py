"""Sending a notification e-mail through the SMTP server of `[mail]` (only if `enabled`).

Mails are notifications without content: they never contain a message, a nickname, an id or
anything a young person wrote; they only ask staff to log in. The SMTP conversation runs in a
worker thread (smtplib blocks) and is called after the transaction committed.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage

from server.config.models import MailConfig

TIMEOUT_SECONDS = 15


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    body: str


def _send_blocking(config: MailConfig, mail: Mail) -> None:
    message = EmailMessage()
    message["From"] = config.sender
    message["To"] = mail.to
    message["Subject"] = mail.subject
    message.set_content(mail.body)
    with smtplib.SMTP(config.host, config.port, timeout=TIMEOUT_SECONDS) as smtp:
        if config.starttls:
            smtp.starttls(context=ssl.create_default_context())
        if config.username:
            smtp.login(config.username, config.password)
        smtp.send_message(message)


async def send(config: MailConfig, mail: Mail) -> bool:
    """Send one mail; False when mail is switched off."""
    if not config.enabled:
        return False
    await asyncio.to_thread(_send_blocking, config, mail)
    return True
