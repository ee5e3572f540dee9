#!/usr/bin/env python3
# serve_live_client.py - a WebSocket client (RFC 6455, Python's standard library only) for `reenact serve`'s
# GET /api/live, used by tests/cli/test_serve_live.sh and bench/live.sh:
#   serve_live_client.py check URL --photo P --frames DIR [--token T] [--face-photo P --face-frames DIR --noface P]
#       the protocol checks; prints "ok: ..." / "FAIL: ..." lines, exits 1 on any failure
#   serve_live_client.py bench URL (--photo P | --demo) --frames DIR [--n 300] [--inflight 1] [--size 256] [--json F]
#       streams the frames as fast as the server answers (at most --inflight unanswered) and prints fps and latency
#   serve_live_client.py hold URL SECONDS      a session that only waits (for the shutdown and connection tests)
# Frames are the *.jpg files of DIR in name order (looped as needed).
import argparse
import base64
import hashlib
import json
import os
import socket
import statistics
import struct
import sys
import time
import urllib.parse

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Closed(Exception):
    def __init__(self, code, reason):
        super().__init__("closed %s %s" % (code, reason))
        self.code, self.reason = code, reason


class WS:
    def __init__(self, url, token=None, headers=None, path="/api/live", timeout=60, retries=30):
        # a session that just ended holds its place for a few ms more: retry a 503 (too many sessions) briefly
        for _ in range(retries):
            self._connect(url, token, headers, path, timeout)
            if self.status != 503:
                return
            self.sock.close()
            time.sleep(0.1)
        self._connect(url, token, headers, path, timeout)

    def _connect(self, url, token, headers, path, timeout):
        u = urllib.parse.urlparse(url)
        self.host, self.port = u.hostname, u.port or 80
        self.sock = socket.create_connection((self.host, self.port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        key = base64.b64encode(os.urandom(16)).decode()
        q = "?token=" + urllib.parse.quote(token) if token else ""
        h = {"Host": "%s:%d" % (self.host, self.port), "Upgrade": "websocket", "Connection": "Upgrade",
             "Sec-WebSocket-Key": key, "Sec-WebSocket-Version": "13"}
        h.update(headers or {})
        req = "GET %s%s HTTP/1.1\r\n" % (path, q) + "".join("%s: %s\r\n" % kv for kv in h.items() if kv[1] is not None)
        self.sock.sendall((req + "\r\n").encode())
        self.buf = b""
        while b"\r\n\r\n" not in self.buf:
            d = self.sock.recv(65536)
            if not d:
                break
            self.buf += d
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else 0
        self.headers = {l.split(":", 1)[0].strip().lower(): l.split(":", 1)[1].strip() for l in lines[1:] if ":" in l}
        self.body = self.buf
        want = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
        self.accept_ok = self.headers.get("sec-websocket-accept") == want

    def raw(self, b):
        self.sock.sendall(b)

    def frame(self, op, payload=b"", fin=True, mask=True, rsv=0, length=None):
        n = len(payload) if length is None else length
        b0 = (0x80 if fin else 0) | (rsv << 4) | op
        if n < 126:
            hdr = struct.pack("!BB", b0, (0x80 if mask else 0) | n)
        elif n <= 0xFFFF:
            hdr = struct.pack("!BBH", b0, (0x80 if mask else 0) | 126, n)
        else:
            hdr = struct.pack("!BBQ", b0, (0x80 if mask else 0) | 127, n)
        if mask:
            m = os.urandom(4)
            # XOR with the repeated mask, fast for large payloads
            full = (m * (len(payload) // 4 + 1))[: len(payload)]
            payload = (int.from_bytes(payload, "big") ^ int.from_bytes(full, "big")).to_bytes(len(payload), "big") \
                if payload else b""
            hdr += m
        return hdr + payload

    def send(self, op, payload=b"", **kw):
        self.sock.sendall(self.frame(op, payload, **kw))

    def text(self, obj):
        self.send(1, json.dumps(obj).encode())

    def binary(self, data):
        self.send(2, data)

    def _read(self, n):
        while len(self.buf) < n:
            d = self.sock.recv(1 << 20)
            if not d:
                raise Closed(1006, "connection ended without a close frame")
            self.buf += d
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv(self):
        """Next message: ('text', obj) | ('binary', bytes) | ('pong', bytes). Raises Closed on a close frame."""
        msg, mop = b"", None
        while True:
            b0, b1 = self._read(2)
            op, n = b0 & 0x0F, b1 & 0x7F
            if b1 & 0x80:
                raise Closed(-1, "the server masked a frame")
            if n == 126:
                n = struct.unpack("!H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read(8))[0]
            p = self._read(n)
            if op == 8:
                code = struct.unpack("!H", p[:2])[0] if len(p) >= 2 else 1005
                try:
                    self.send(8, p[:2])
                except OSError:
                    pass
                raise Closed(code, p[2:].decode("utf-8", "replace"))
            if op == 10:
                return ("pong", p)
            if op == 9:
                self.send(10, p)
                continue
            if op != 0:
                mop = op
            msg += p
            if b0 & 0x80:
                return ("text", json.loads(msg)) if mop == 1 else ("binary", msg)

    def close(self, code=1000):
        try:
            self.send(8, struct.pack("!H", code))
            while True:
                self.recv()
        except (Closed, OSError):
            pass
        self.sock.close()


def frames_of(d):
    fs = sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".jpg"))
    if not fs:
        sys.exit("no .jpg frames in " + d)
    return [open(f, "rb").read() for f in fs]


FAILS = 0


def check(ok, what):
    global FAILS
    print(("ok: " if ok else "FAIL: ") + what, flush=True)
    if not ok:
        FAILS += 1


def expect_close(ws, what, code, contains=""):
    """Read until the server closes; check its code and that its reason or error message names the problem."""
    errs = []
    try:
        while True:
            k, m = ws.recv()
            if k == "text" and m.get("type") == "error":
                errs.append(m.get("error", ""))
    except Closed as c:
        ws.sock.close()
        text = c.reason + " | " + " ".join(errs)
        check(c.code == code and contains.lower() in text.lower(),
              "%s: closed %s (want %s) '%s'" % (what, c.code, code, text.strip(" |")))
        return
    except OSError as e:
        ws.sock.close()
        check(False, "%s: no close frame (%s)" % (what, e))


def until_ready(ws):
    while True:
        k, m = ws.recv()
        if k == "text" and m.get("type") == "ready":
            return m


def aligned_session(url, token, photo):
    """A new session on aligned input with photo set up (ready answered)."""
    ws = WS(url, token)
    ws.text({"type": "options", "aligned": True})
    ws.binary(photo)
    until_ready(ws)
    return ws


def one_frame(ws, data):
    """Send a frame, return (header, jpeg bytes, seconds)."""
    t = time.monotonic()
    ws.binary(data)
    hdr = None
    while True:
        k, m = ws.recv()
        if k == "text" and m.get("type") == "frame":
            hdr = m
        elif k == "binary" and hdr is not None:
            return hdr, m, time.monotonic() - t


def health(url, token=None):
    import urllib.request
    r = urllib.request.Request(url + "/api/health", headers={"Authorization": "Bearer " + token} if token else {})
    return json.load(urllib.request.urlopen(r, timeout=10))


def cmd_check(a):
    url = a.url
    photo = open(a.photo, "rb").read()
    frames = frames_of(a.frames)

    # the handshake
    ws = WS(url, a.token)
    check(ws.status == 101 and ws.accept_ok, "handshake: 101 Switching Protocols with the right Sec-WebSocket-Accept")
    # a stream with aligned input (the test model has no trained face): options, a fragmented photo with a ping
    # between its fragments, then frames one at a time
    ws.text({"type": "options", "aligned": True, "size": 128, "quality": 70, "fps": 25})
    third = len(photo) // 3
    ws.send(2, photo[:third], fin=False)
    ws.send(9, b"hello")
    ws.send(0, photo[third:2 * third], fin=False)
    ws.send(0, photo[2 * third:], fin=True)
    k, m = ws.recv()
    check(k == "pong" and m == b"hello", "a ping between the photo's fragments is answered with its payload")
    r = until_ready(ws)
    check(r["width"] == 128 and r["height"] == 128, "ready: %dx%d output (size 128)" % (r["width"], r["height"]))
    lat = []
    for i, f in enumerate(frames[:6]):
        hdr, jpg, dt = one_frame(ws, f)
        lat.append(dt)
        if i == 0:
            check(hdr["index"] == 0 and jpg[:3] == b"\xff\xd8\xff" and hdr["bytes"] == len(jpg),
                  "frame 0 answered: a JPEG of %d bytes after its timing %s" % (len(jpg), json.dumps(hdr["ms"])))
    check(hdr["index"] == 5 and all(k in hdr["ms"] for k in ("decode_jpeg", "encode", "decode", "render", "server")),
          "6 frames answered in order with per-stage ms (median %.1f ms round trip)" % (1e3 * statistics.median(lat)))
    ws.text({"type": "reset"})
    hdr, jpg, _ = one_frame(ws, frames[0])
    check(hdr["index"] == 6, "after a reset the stream goes on (frame %d)" % hdr["index"])
    # frames faster than the server: older waiting ones are skipped, never queued; the newest is always answered
    n_burst = 12
    for f in (frames * 3)[:n_burst]:
        ws.binary(f)
    got, skipped = [], []
    while len(got) + len(skipped) < n_burst:
        k, m = ws.recv()
        if k == "text" and m["type"] == "frame":
            got.append(m["index"])
        elif k == "text" and m["type"] == "skipped":
            skipped.append(m["index"])
    check(sorted(got + skipped) == list(range(7, 7 + n_burst)) and got[-1] == 6 + n_burst and got == sorted(got),
          "a burst of %d frames: %d answered, %d skipped, the newest answered" % (n_burst, len(got), len(skipped)))
    ws.close()

    # bad messages: each closes its session with a code and a reason naming the problem; the server stays up
    ws = WS(url, a.token)
    ws.send(1, b"this is not json")
    expect_close(ws, "a text message that is not JSON", 1003, "JSON")
    ws = WS(url, a.token)
    ws.text({"type": "options", "colour": "blue"})
    expect_close(ws, "an unknown option", 1008, "colour")
    ws = WS(url, a.token)
    ws.text({"type": "options", "format": "gif"})
    expect_close(ws, "a job option", 1008, "does not apply")
    ws = WS(url, a.token)
    ws.text({"type": "options", "strength": 999})   # outside [-RE_ANIM_STRENGTH_MAX, RE_ANIM_STRENGTH_MAX]
    expect_close(ws, "a bad value", 1008, "strength")
    ws = WS(url, a.token)
    ws.text({"type": "dance"})
    expect_close(ws, "an unknown message type", 1003, "dance")
    ws = WS(url, a.token)
    ws.binary(b"this is a text file, not a portrait\n")
    expect_close(ws, "text as the photo", 1003, "expected a PNG or JPEG")
    ws = WS(url, a.token)
    ws.binary(b"\x89PNG\r\n\x1a\n" + b"\0" * 64)
    expect_close(ws, "a corrupt PNG as the photo", 1007, "photo")
    ws = aligned_session(url, a.token, photo)
    ws.binary(b"\xff\xd8\xff\xe0" + b"garbage" * 50)
    expect_close(ws, "a corrupt JPEG frame", 1007, "frame 0")
    ws = aligned_session(url, a.token, photo)
    ws.binary(b"GIF89a" + b"\0" * 40)
    expect_close(ws, "a GIF as a driving frame", 1003, "expected a JPEG")
    ws = WS(url, a.token)
    ws.send(2, photo, mask=False)
    expect_close(ws, "an unmasked client frame", 1002, "masked")
    ws = WS(url, a.token)
    ws.send(2, b"x", rsv=4)
    expect_close(ws, "a reserved bit", 1002, "reserved")
    ws = WS(url, a.token)
    ws.send(0, b"x")
    expect_close(ws, "a continuation without a message", 1002, "continuation")
    ws = WS(url, a.token)
    ws.send(9, b"p" * 126)
    expect_close(ws, "a 126-byte ping", 1002, "control frame")
    # oversize: the header's declared length is refused before the payload is read
    ws = WS(url, a.token)
    ws.raw(ws.frame(2, b"\x89PNG" + b"\0" * 60, length=1 << 30)[:14])
    expect_close(ws, "a 1 GiB photo message", 1009, "limit")
    ws = aligned_session(url, a.token, photo)
    big = b"\xff\xd8\xff" + os.urandom((4 << 20) + 10)
    try:
        ws.binary(big)
    except OSError:
        pass
    expect_close(ws, "a driving frame over 4 MiB", 1009, "limit")
    ws = WS(url, a.token)
    ws.send(1, b'{"type": "options", "x": "' + b"a" * (70 << 10) + b'"}')
    expect_close(ws, "a 70 KiB text message", 1009, "text message")
    ws = WS(url, a.token)
    ws.send(1, b'\xc3\x28')
    expect_close(ws, "text that is not UTF-8", 1007, "UTF-8")

    # real faces (the bundled model): the photo's face is found and the driving frames' faces tracked
    if a.face_frames:
        ff = frames_of(a.face_frames)
        ws = WS(url, a.token)
        opts = {"type": "options", "size": 256}
        if a.face_photo:
            ws.text(opts)
            ws.binary(open(a.face_photo, "rb").read())
        else:
            opts["demo"] = True
            ws.text(opts)
        r = until_ready(ws)
        check(r["width"] == 256 and r["faces"] >= 1, "a real photo: ready, %d face(s), setup %.0f ms" %
              (r["faces"], r["setup_ms"]))
        found, lat, ms = 0, [], []
        for f in ff[:20]:
            hdr, jpg, dt = one_frame(ws, f)
            found += hdr["found"]
            lat.append(dt)
            ms.append(hdr["ms"])
        med = lambda k: statistics.median(m[k] for m in ms)
        check(found >= 15 and hdr["ref"], "the driving frames' faces are tracked (%d of 20 found)" % found)
        print("  real-face stream: round trip median %.1f ms; server ms median: %s" % (
            1e3 * statistics.median(lat), ", ".join("%s %.1f" % (k, med(k)) for k in ms[0])))
        ws.close()
        if a.noface:
            ws = WS(url, a.token)
            ws.text({"type": "options"})
            ws.binary(open(a.noface, "rb").read())
            expect_close(ws, "a photo without a face", 1008, "no face")

    h = health(url, a.token)
    check(h["status"] == "ok", "the server still answers (/api/health: live %s)" % json.dumps(h.get("live")))
    print("%d live checks failed" % FAILS if FAILS else "live checks ok")
    return 1 if FAILS else 0


def cmd_bench(a):
    frames = frames_of(a.frames)
    ws = WS(a.url, a.token)
    if ws.status != 101:
        sys.exit("handshake failed: HTTP %d %s" % (ws.status, ws.body[:200]))
    opts = {"type": "options", "size": a.size, "fps": 30}
    if a.demo:
        opts["demo"] = True
    ws.text(opts)
    if not a.demo:
        ws.binary(open(a.photo, "rb").read())
    ready = until_ready(ws)
    sent = {}   # index -> send time
    lat, ms, skipped, found = [], [], 0, 0
    nxt, answered, hdr = 0, 0, None
    t_first = t_last = None
    warm = a.warmup
    while answered + skipped < a.n + warm:
        while nxt < a.n + warm and len(sent) < a.inflight:
            sent[nxt] = time.monotonic()
            ws.binary(frames[nxt % len(frames)])
            nxt += 1
        k, m = ws.recv()
        if k == "text" and m["type"] == "skipped":
            sent.pop(m["index"], None)
            skipped += 1
        elif k == "text" and m["type"] == "frame":
            hdr = m
        elif k == "binary":
            t = time.monotonic()
            t0 = sent.pop(hdr["index"])
            answered += 1
            if answered > warm:
                if t_first is None:
                    t_first = t
                t_last = t
                lat.append(1e3 * (t - t0))
                ms.append(hdr["ms"])
                found += hdr["found"]
    ws.close()
    n = len(lat)
    fps = (n - 1) / (t_last - t_first) if n > 1 and t_last > t_first else 0.0
    stages = {k: statistics.median(m[k] for m in ms) for k in ms[0]} if ms else {}
    res = {"frames": n, "skipped": skipped, "found": found, "fps": fps, "latency_ms_median": statistics.median(lat),
           "latency_ms_p90": sorted(lat)[int(0.9 * (n - 1))], "inflight": a.inflight, "size": a.size,
           "out": [ready["width"], ready["height"]], "server_ms_median": stages, "setup_ms": ready["setup_ms"]}
    print(json.dumps(res))
    if a.json:
        json.dump(res, open(a.json, "w"), indent=1)
    return 0


def cmd_hold(a):
    ws = WS(a.url, a.token)
    print("status %d" % ws.status, flush=True)
    if ws.status != 101:
        return 1
    end = time.monotonic() + a.seconds
    ws.sock.settimeout(a.seconds + 5)
    try:
        while time.monotonic() < end:
            ws.send(9, b"k")
            ws.recv()
            time.sleep(0.2)
    except Closed as c:
        print("closed %d %s" % (c.code, c.reason), flush=True)
        return 0
    ws.close()
    print("closed by us", flush=True)
    return 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("check")
    c.add_argument("url")
    c.add_argument("--photo", required=True)
    c.add_argument("--frames", required=True)
    c.add_argument("--token")
    c.add_argument("--face-photo")
    c.add_argument("--face-frames")
    c.add_argument("--noface")
    b = sub.add_parser("bench")
    b.add_argument("url")
    b.add_argument("--photo")
    b.add_argument("--demo", action="store_true")
    b.add_argument("--frames", required=True)
    b.add_argument("--n", type=int, default=300)
    b.add_argument("--warmup", type=int, default=10)
    b.add_argument("--inflight", type=int, default=1)
    b.add_argument("--size", type=int, default=256)
    b.add_argument("--token")
    b.add_argument("--json")
    h = sub.add_parser("hold")
    h.add_argument("url")
    h.add_argument("seconds", type=float)
    h.add_argument("--token")
    a = p.parse_args()
    return {"check": cmd_check, "bench": cmd_bench, "hold": cmd_hold}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
