"""A sending MTA for mailsift's tests: Python's smtplib.

Sends --count messages to host:port over --parallel connections, each with
a unique Message-ID <N.TAG@sender.test>, and retries a message that got a
4xx or a dropped connection (a real MTA keeps it and tries again) up to
--retries times. With --rate R, message N is sent no earlier than N/R
seconds after the start (a steady pace, for latency). Prints one JSON object: accepted / refused counts and, per
accepted message, when its data was sent (for latency).
"""

import argparse
import json
import smtplib
import ssl
import sys
import threading
import time

SPAM = ("Buy cheap viagra and cialis from our online pharmacy, no prescription! "
        "100% free shipping, act now, limited time offer, click here.")
HAM = "Hi Bob, the quarterly numbers are attached to the shared drive. See you at noon."


def message(i, tag, rcpts, size):
    body = SPAM if i % 5 == 4 else HAM
    pad = ""
    if size:
        pad = "\r\n" + ("x" * 76 + "\r\n") * max(0, size // 78)
    return (
        "From: Alice Sender <alice@sender.test>\r\n"
        "To: %s\r\n"
        "Subject: test %d %s\r\n"
        "Date: Tue, 12 Mar 2024 10:15:00 +0000\r\n"
        "Message-ID: <%d.%s@sender.test>\r\n"
        "\r\n%s%s\r\n" % (", ".join(rcpts), i, tag, i, tag, body, pad)
    ).encode()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--count", type=int, default=1)
    p.add_argument("--parallel", type=int, default=1)
    p.add_argument("--mail-from", default="alice@sender.test")
    p.add_argument("--to", action="append", required=True)
    p.add_argument("--tag", default="t")
    p.add_argument("--starttls", action="store_true")
    p.add_argument("--retries", type=int, default=50)
    p.add_argument("--size", type=int, default=0)
    p.add_argument("--rate", type=float, default=0.0)
    a = p.parse_args()
    lock = threading.Lock()
    result = {"accepted": 0, "refused": 0, "retried": 0, "sent_at": {}, "errors": []}
    next_i = [0]
    started = time.time()

    def take():
        with lock:
            if next_i[0] >= a.count:
                return None
            next_i[0] += 1
            return next_i[0] - 1

    def connect():
        s = smtplib.SMTP(a.host, a.port, timeout=60)
        s.ehlo("sender.test")
        if a.starttls:
            ctx = ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            s.starttls(context=ctx)
            s.ehlo("sender.test")
        return s

    def worker():
        s = None
        while True:
            i = take()
            if i is None:
                break
            data = message(i, a.tag, a.to, a.size)
            if a.rate > 0:
                time.sleep(max(0.0, started + i / a.rate - time.time()))
            for attempt in range(a.retries + 1):
                try:
                    if s is None:
                        s = connect()
                    sent = time.time()
                    s.sendmail(a.mail_from, a.to, data)
                    with lock:
                        result["accepted"] += 1
                        result["sent_at"]["%d.%s@sender.test" % (i, a.tag)] = sent
                    break
                except smtplib.SMTPRecipientsRefused as e:
                    codes = [c for c, _ in e.recipients.values()]
                    if all(400 <= c < 500 for c in codes) and attempt < a.retries:
                        with lock:
                            result["retried"] += 1
                        time.sleep(0.2)
                        continue
                    with lock:
                        result["refused"] += 1
                        result["errors"].append(str(e)[:200])
                    break
                except (smtplib.SMTPServerDisconnected, smtplib.SMTPDataError,
                        smtplib.SMTPSenderRefused, smtplib.SMTPResponseException,
                        ConnectionError, OSError) as e:
                    code = getattr(e, "smtp_code", 421)
                    try:
                        if s is not None:
                            s.close()
                    except Exception:
                        pass
                    s = None
                    if (code is None or 400 <= code < 500) and attempt < a.retries:
                        with lock:
                            result["retried"] += 1
                        time.sleep(0.2)
                        continue
                    with lock:
                        result["refused"] += 1
                        result["errors"].append(str(e)[:200])
                    break
        if s is not None:
            try:
                s.quit()
            except Exception:
                pass

    threads = [threading.Thread(target=worker) for _ in range(a.parallel)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result["seconds"] = time.time() - started
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
