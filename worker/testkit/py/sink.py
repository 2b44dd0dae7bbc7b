"""A next-hop mail server for mailsift's tests: aiosmtpd on loopback.

It stores every accepted message as <dir>/<n>.eml with <n>.json beside it
(envelope, TLS used, peer), and answers per recipient:

- local part starting with ``reject``: 550 5.1.1 (a permanent refusal);
- while the file given with --defer-while exists: 451 4.3.2 to every RCPT
  (a next hop that is down for a while, then back);
- otherwise 250.

STARTTLS is offered when --tls-cert/--tls-key are given. It prints
"READY <port>" on stdout once it listens, and runs until killed.
"""

import argparse
import asyncio
import json
import os
import ssl
import sys
import time

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, directory, defer_while):
        self.directory = directory
        self.defer_while = defer_while
        self.count = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0].lower()
        if local.startswith("reject"):
            return "550 5.1.1 <%s>: no such user here" % address
        if self.defer_while and os.path.exists(self.defer_while):
            return "451 4.3.2 try again later"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        n = self.count
        path = os.path.join(self.directory, "%06d" % n)
        data = envelope.original_content or envelope.content
        if isinstance(data, str):
            data = data.encode("utf-8", "surrogateescape")
        with open(path + ".eml.tmp", "wb") as f:
            f.write(data)
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_to": envelope.rcpt_tos,
            "tls": session.ssl is not None,
            "peer": session.peer[0] if session.peer else None,
            "helo": session.host_name,
            "received_at": time.time(),
        }
        with open(path + ".json.tmp", "w") as f:
            json.dump(meta, f)
        os.rename(path + ".json.tmp", path + ".json")
        os.rename(path + ".eml.tmp", path + ".eml")
        return "250 2.0.0 OK: stored as %06d" % n


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--dir", required=True)
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--defer-while")
    a = p.parse_args()
    os.makedirs(a.dir, exist_ok=True)
    tls = None
    if a.tls_cert:
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(a.tls_cert, a.tls_key)
    controller = Controller(
        Sink(a.dir, a.defer_while),
        hostname="127.0.0.1",
        port=a.port,
        tls_context=tls,
        require_starttls=False,
        data_size_limit=64 * 1024 * 1024,
        decode_data=False,
    )
    controller.start()
    print("READY %d" % a.port, flush=True)
    try:
        asyncio.get_event_loop().run_forever()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


if __name__ == "__main__":
    sys.exit(main())
