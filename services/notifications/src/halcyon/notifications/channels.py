"""Channel adapters: SMTP for email, the SMS provider's HTTP API."""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage
from email.utils import make_msgid

import httpx
from halcyon.notifications.settings import NotificationsSettings


class SendFailed(Exception):
    """The channel did not accept the message (retry later)."""


class EmailChannel:
    def __init__(self, settings: NotificationsSettings) -> None:
        self._settings = settings

    async def send(
        self, *, to: str, subject: str, text: str, html: str | None, delivery_id: str
    ) -> str:
        message = EmailMessage()
        message["From"] = self._settings.email_sender
        message["To"] = to
        message["Subject"] = subject
        message["Message-ID"] = make_msgid(idstring=delivery_id[:20], domain="halcyon.local")
        message["X-Halcyon-Delivery"] = delivery_id
        message.set_content(text)
        if html:
            message.add_alternative(html, subtype="html")
        try:
            # smtplib is blocking; a thread keeps the event loop (and Kafka) responsive.
            await asyncio.to_thread(self._send_blocking, message)
        except (OSError, smtplib.SMTPException) as exc:
            raise SendFailed(f"SMTP: {exc}") from exc
        return str(message["Message-ID"])

    def _send_blocking(self, message: EmailMessage) -> None:
        with smtplib.SMTP(
            self._settings.smtp_host,
            self._settings.smtp_port,
            timeout=self._settings.smtp_timeout_seconds,
        ) as smtp:
            smtp.send_message(message)


class SmsChannel:
    def __init__(self, settings: NotificationsSettings) -> None:
        self._settings = settings

    async def send(self, *, to: str, body: str, delivery_id: str) -> str:
        payload = {
            "to": to,
            "from": self._settings.sms_sender,
            "body": body,
            "client_ref": delivery_id,
        }
        try:
            async with httpx.AsyncClient(timeout=10.0) as http:
                response = await http.post(
                    f"{self._settings.sms_provider_url}/messages", json=payload
                )
        except httpx.HTTPError as exc:
            raise SendFailed(f"SMS provider unreachable: {exc}") from exc
        if response.status_code >= 300:
            raise SendFailed(f"SMS provider answered {response.status_code}: {response.text[:200]}")
        return str(response.json().get("id", ""))
