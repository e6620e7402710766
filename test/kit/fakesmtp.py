"""A loopback SMTP server (Debian's python3-aiosmtpd) standing in for a mail relay.

    smtp = FakeSMTP(starttls=True, users={"dwc": "secret"})
    smtp.url            # smtp://127.0.0.1:<port>
    smtp.ca_file        # the certificate it presents (STARTTLS), readable by the server
    smtp.script(451, 250)   # replies to the next DATA commands, one each; the last repeats
    smtp.messages       # what was accepted: Message(mail_from, rcpt_tos, content bytes, login, tls)
    smtp.close()

It speaks real SMTP: EHLO, STARTTLS with a certificate for 127.0.0.1, AUTH PLAIN/LOGIN
(refused before TLS when starttls is on), MAIL FROM, RCPT TO, DATA.
"""
import email
import email.policy
import os
import socket
import ssl
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass
class Message:
    mail_from: str
    rcpt_tos: list
    content: bytes
    login: str
    tls: bool

    def parsed(self):
        return email.message_from_bytes(self.content, policy=email.policy.default)


class _Handler:
    def __init__(self, fake):
        self.fake = fake

    async def handle_DATA(self, server, session, envelope):
        f = self.fake
        with f.lock:
            code = f._replies[0] if f._replies else 250
            if len(f._replies) > 1:
                f._replies.pop(0)
            f.attempts += 1
        if f.delay:
            time.sleep(f.delay)
        if code != 250:
            return "%d %s" % (code, "try again later" if code < 500 else "mailbox unavailable")
        login = getattr(session, "dwc_login", None)
        with f.lock:
            f.messages.append(Message(envelope.mail_from, list(envelope.rcpt_tos), envelope.content, login,
                                      session.ssl is not None))
        return "250 OK"


class FakeSMTP:
    def __init__(self, starttls=False, users=None):
        self.messages = []
        self.attempts = 0
        self.delay = 0.0
        self.lock = threading.Lock()
        self._replies = []
        self.users = users or {}
        self.ca_file = None
        tls_context = None
        if starttls:
            # readable by the server's OS user, which reads it as the channel's ca_file
            self._dir = tempfile.mkdtemp(prefix="dwc-fake-smtp-")
            os.chmod(self._dir, 0o755)
            cert = os.path.join(self._dir, "cert.pem")
            key = os.path.join(self._dir, "key.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                            "-keyout", key, "-out", cert],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            os.chmod(cert, 0o644)
            tls_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            tls_context.load_cert_chain(cert, key)
            self.ca_file = cert
        kw = {}
        if self.users:
            kw.update(authenticator=self._authenticate, auth_require_tls=starttls)
        else:
            kw.update(auth_require_tls=False)
        with socket.socket() as probe:      # aiosmtpd 1.4 cannot listen on port 0
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=port,
                                      tls_context=tls_context, require_starttls=starttls, **kw)
        self._controller.start()
        self.port = port
        self.url = "smtp://127.0.0.1:%d" % self.port

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        ok = (isinstance(auth_data, LoginPassword)
              and self.users.get(auth_data.login.decode()) == auth_data.password.decode())
        if ok:
            session.dwc_login = auth_data.login.decode()
        return AuthResult(success=ok)

    def script(self, *codes):
        with self.lock:
            self._replies = list(codes)

    def wait(self, n, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            with self.lock:
                if len(self.messages) >= n:
                    return list(self.messages)
            time.sleep(0.05)
        raise AssertionError("%d messages within %ds, wanted %d" % (len(self.messages), timeout, n))

    def close(self):
        self._controller.stop()
