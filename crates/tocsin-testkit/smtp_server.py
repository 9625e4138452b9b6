#!/usr/bin/python3
"""A real SMTP server for tocsin-notify's email tests, built on aiosmtpd (Debian python3-aiosmtpd).

Usage: smtp_server.py --dir OUT [--cert CHAIN.pem --key KEY.der] [--starttls] [--implicit-tls]
                      [--auth USER:PASSWORD]

Listens on 127.0.0.1 on a free port and prints that port on its first stdout line. Each accepted
message is written to OUT/NNNN.eml: X-Envelope-From, X-Envelope-To, X-Tls (yes/no) and
X-Auth-Login lines, then the message exactly as received. Recipients whose local part is `busy`
get a 451 (transient) reply, `nobody` a 550 (permanent). Exits when stdin closes (the test
process holding the pipe went away) so no server outlives its test.
"""

import argparse
import asyncio
import base64
import os
import ssl
import sys

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Handler:
    def __init__(self, outdir):
        self.outdir = outdir
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0]
        if local == "busy":
            return "451 4.3.0 mailbox busy, try again later"
        if local == "nobody":
            return "550 5.1.1 no such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        path = os.path.join(self.outdir, "%04d.eml" % self.count)
        auth = session.auth_data
        login = auth.login.decode() if isinstance(auth, LoginPassword) else ""
        tls = session.ssl is not None or server.transport.get_extra_info("ssl_object") is not None
        head = "X-Envelope-From: %s\r\nX-Envelope-To: %s\r\nX-Tls: %s\r\nX-Auth-Login: %s\r\n" % (
            envelope.mail_from,
            ", ".join(envelope.rcpt_tos),
            "yes" if tls else "no",
            login,
        )
        content = envelope.original_content or envelope.content or b""
        if isinstance(content, str):
            content = content.encode()
        with open(path + ".tmp", "wb") as f:
            f.write(head.encode())
            f.write(content)
        os.rename(path + ".tmp", path)
        return "250 2.0.0 OK queued as %d" % self.count


class Authenticator:
    def __init__(self, user, password):
        self.user = user.encode()
        self.password = password.encode()

    def __call__(self, server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == self.user
            and auth_data.password == self.password
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data)


def tls_context(cert, key_der):
    key_path = key_der + ".pem"
    with open(key_der, "rb") as f:
        der = f.read()
    with open(key_path, "w") as f:
        f.write("-----BEGIN PRIVATE KEY-----\n")
        f.write(base64.encodebytes(der).decode())
        f.write("-----END PRIVATE KEY-----\n")
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key_path)
    return ctx


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--cert")
    p.add_argument("--key")
    p.add_argument("--starttls", action="store_true")
    p.add_argument("--implicit-tls", action="store_true")
    p.add_argument("--auth")
    a = p.parse_args()

    ctx = tls_context(a.cert, a.key) if a.cert else None
    kwargs = {"hostname": "localhost"}
    if a.starttls:
        kwargs.update(tls_context=ctx, require_starttls=True)
    if a.auth:
        user, password = a.auth.split(":", 1)
        kwargs.update(
            authenticator=Authenticator(user, password),
            auth_required=True,
            auth_require_tls=ctx is not None,
        )
    handler = Handler(a.dir)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    server = loop.run_until_complete(
        loop.create_server(
            lambda: SMTP(handler, loop=loop, **kwargs),
            host="127.0.0.1",
            port=0,
            ssl=ctx if a.implicit_tls else None,
        )
    )
    print(server.sockets[0].getsockname()[1], flush=True)
    loop.add_reader(sys.stdin.fileno(), lambda: loop.stop() if not sys.stdin.buffer.read1(4096) else None)
    loop.run_forever()


if __name__ == "__main__":
    main()
