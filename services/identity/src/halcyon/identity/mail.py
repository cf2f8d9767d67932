"""The password-reset email, sent by identity itself.

The reset token is a bearer secret: it goes straight from identity to the person's
mailbox over SMTP and never onto Kafka (where notifications' other messages travel),
so no event log, dead letter or consumer ever holds a usable reset credential.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
from email.message import EmailMessage

from halcyon.identity.settings import IdentitySettings

log = logging.getLogger("halcyon.identity.mail")


def reset_message(
    settings: IdentitySettings, to: str, display_name: str, token: str, minutes: int
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = "Reset your Halcyon password"
    link = f"{settings.password_reset_url}?token={token}"
    message.set_content(
        f"Hello {display_name},\n\n"
        f"Someone asked to reset the password of your Halcyon account. To choose a new one,\n"
        f"open this link within {minutes} minutes (it works once):\n\n{link}\n\n"
        f"Reset code (if you are asked for it): {token}\n\n"
        "If this was not you, ignore this message; your password is unchanged.\n"
    )
    return message


def _send(settings: IdentitySettings, message: EmailMessage) -> None:
    with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=10) as smtp:
        smtp.send_message(message)


async def send_password_reset(
    settings: IdentitySettings, to: str, display_name: str, token: str, minutes: int
) -> bool:
    """Send in a worker thread (never block the event loop); False if the server refused."""
    try:
        await asyncio.to_thread(
            _send, settings, reset_message(settings, to, display_name, token, minutes)
        )
        return True
    except (OSError, smtplib.SMTPException):
        log.error("could not send the password-reset email to the mail server", exc_info=True)
        return False
