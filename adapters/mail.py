from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage

from entities.errors import ServiceUnavailable
from use_cases.identity.ports import Mailer

log = logging.getLogger(__name__)


class SmtpMailer(Mailer):
    """Sends mail through SMTP_HOST: implicit TLS on port 465, else STARTTLS when SMTP_TLS;
    login when SMTP_USER is set."""

    def __init__(self, host: str, port: int, sender: str, user: str = "", password: str = "",
                 tls: bool = True, timeout_s: float = 10.0):
        self.host = host
        self.port = port
        self.sender = sender
        self.user = user
        self.password = password
        self.tls = tls
        self.timeout_s = timeout_s

    def _connect(self) -> smtplib.SMTP:
        if self.port == 465:
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout_s,
                                    context=ssl.create_default_context())
        return smtplib.SMTP(self.host, self.port, timeout=self.timeout_s)

    def send(self, to: str, subject: str, body: str, token: str | None = None) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message.set_content(body, subtype="plain")  # never HTML: user text in it stays inert
        try:
            with self._connect() as smtp:
                if self.tls and not isinstance(smtp, smtplib.SMTP_SSL):
                    smtp.starttls(context=ssl.create_default_context())
                if self.user:
                    smtp.login(self.user, self.password)
                smtp.send_message(message)
        except (smtplib.SMTPException, OSError) as error:
            log.warning("mail not sent", extra={"fields": {
                "to": to, "subject": subject, "error": type(error).__name__}})
            raise ServiceUnavailable("Mail could not be sent, retry later") from None
        log.info("mail sent", extra={"fields": {"to": to, "subject": subject}})
