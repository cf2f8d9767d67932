#!/usr/bin/env python3
"""Readiness probes for the local Halcyon servers (stdlib only, no drivers).

    probe.py kafka HOST PORT   -> exit 0 iff the broker answers ApiVersions with
                                  error_code 0 AND a Metadata request lists >= 1
                                  broker and a controller (i.e. it serves clients).
    probe.py mongo HOST PORT   -> exit 0 iff the server answers an OP_MSG
                                  {ping: 1, $db: "admin"} with ok: 1.
    probe.py postgres HOST PORT -> exit 0 iff PostgreSQL accepts a startup packet
                                  (protocol 3.0, user "halcyon", database
                                  "postgres", trust auth) and reaches
                                  ReadyForQuery, i.e. it serves queries (not
                                  "the database system is starting up").
    probe.py uuid              -> print a random Kafka cluster id (base64url uuid).

Used by servers.sh; one attempt per call with a short socket timeout, the caller
loops until its own deadline.
"""

import base64
import socket
import struct
import sys
import uuid

TIMEOUT = 2.0


def _recv_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed by peer")
        buf += chunk
    return buf


# ---------------------------------------------------------------- Kafka


def _kafka_call(sock, api_key, api_version, corr, body):
    client_id = b"halcyon-probe"
    header = struct.pack(">hhih", api_key, api_version, corr, len(client_id)) + client_id
    payload = header + body
    sock.sendall(struct.pack(">i", len(payload)) + payload)
    (size,) = struct.unpack(">i", _recv_exact(sock, 4))
    resp = _recv_exact(sock, size)
    (rcorr,) = struct.unpack_from(">i", resp, 0)
    if rcorr != corr:
        raise ValueError("correlation id mismatch")
    return resp[4:]


def probe_kafka(host, port):
    with socket.create_connection((host, port), timeout=TIMEOUT) as sock:
        sock.settimeout(TIMEOUT)
        # ApiVersions v0 (always supported, used for version negotiation).
        resp = _kafka_call(sock, 18, 0, 1, b"")
        (err, n) = struct.unpack_from(">hi", resp, 0)
        if err != 0:
            print(f"ApiVersions error_code={err}", file=sys.stderr)
            return False
        versions = {}
        off = 6
        for _ in range(n):
            key, vmin, vmax = struct.unpack_from(">hhh", resp, off)
            versions[key] = (vmin, vmax)
            off += 6
        # Metadata (key 3): use a non-flexible version in 4..8 if offered.
        vmin, vmax = versions.get(3, (99, -1))
        ver = next((v for v in range(4, 9) if vmin <= v <= vmax), None)
        if ver is None:
            return True  # cannot check further without flexible encoding
        body = struct.pack(">i", 0) + b"\x00"  # topics=[] , allow_auto_topic_creation=false
        if ver >= 8:
            body += b"\x00\x00"  # include_cluster/topic_authorized_operations
        resp = _kafka_call(sock, 3, ver, 2, body)
        off = 4  # throttle_time_ms
        (nbrokers,) = struct.unpack_from(">i", resp, off)
        off += 4
        for _ in range(nbrokers):
            off += 4  # node_id
            (hl,) = struct.unpack_from(">h", resp, off)
            off += 2 + hl + 4  # host, port
            (rl,) = struct.unpack_from(">h", resp, off)
            off += 2 + max(rl, 0)  # rack (nullable)
        (cl,) = struct.unpack_from(">h", resp, off)
        off += 2 + max(cl, 0)  # cluster_id (nullable)
        (controller,) = struct.unpack_from(">i", resp, off)
        if nbrokers < 1 or controller < 0:
            print(f"Metadata: brokers={nbrokers} controller={controller}", file=sys.stderr)
            return False
        return True


# ---------------------------------------------------------------- MongoDB wire


def _bson_ping():
    e1 = b"\x10ping\x00" + struct.pack("<i", 1)
    e2 = b"\x02$db\x00" + struct.pack("<i", 6) + b"admin\x00"
    body = e1 + e2 + b"\x00"
    return struct.pack("<i", 4 + len(body)) + body


def _bson_get_ok(doc):
    """Return the numeric value of the top-level "ok" field (minimal BSON walk)."""
    off = 4
    end = len(doc) - 1
    while off < end:
        t = doc[off]
        off += 1
        nul = doc.index(b"\x00", off)
        name = doc[off:nul]
        off = nul + 1
        if t == 0x01:  # double
            val = struct.unpack_from("<d", doc, off)[0]
            off += 8
        elif t == 0x10:  # int32
            val = struct.unpack_from("<i", doc, off)[0]
            off += 4
        elif t in (0x12, 0x11, 0x09):  # int64, timestamp, datetime
            val = struct.unpack_from("<q", doc, off)[0]
            off += 8
        elif t in (0x02, 0x0D, 0x0E):  # string, js, symbol
            (ln,) = struct.unpack_from("<i", doc, off)
            off += 4 + ln
            val = None
        elif t in (0x03, 0x04):  # document, array
            (ln,) = struct.unpack_from("<i", doc, off)
            off += ln
            val = None
        elif t == 0x05:  # binary
            (ln,) = struct.unpack_from("<i", doc, off)
            off += 5 + ln
            val = None
        elif t == 0x07:  # ObjectId
            off += 12
            val = None
        elif t == 0x08:  # bool
            val = doc[off]
            off += 1
        elif t in (0x0A, 0x06, 0x7F, 0xFF):  # null, undefined, max/min key
            val = None
        elif t == 0x13:  # decimal128
            off += 16
            val = None
        else:
            raise ValueError(f"unsupported BSON type 0x{t:02x}")
        if name == b"ok":
            return val
    return None


def probe_mongo(host, port):
    doc = _bson_ping()
    msg = struct.pack("<I", 0) + b"\x00" + doc  # flagBits, section kind 0
    header = struct.pack("<iiii", 16 + len(msg), 1, 0, 2013)  # OP_MSG
    with socket.create_connection((host, port), timeout=TIMEOUT) as sock:
        sock.settimeout(TIMEOUT)
        sock.sendall(header + msg)
        (length,) = struct.unpack("<i", _recv_exact(sock, 4))
        rest = _recv_exact(sock, length - 4)
        _req, _resp_to, opcode = struct.unpack_from("<iii", rest, 0)
        if opcode != 2013:
            raise ValueError(f"unexpected opcode {opcode}")
        # rest[12:16] flagBits, rest[16] section kind (0), then the BSON body
        ok = _bson_get_ok(rest[17:])
        if ok != 1:
            print(f"ping: ok={ok!r}", file=sys.stderr)
            return False
        return True


# ---------------------------------------------------------------- PostgreSQL


def probe_postgres(host, port, user="halcyon", database="postgres"):
    params = b"".join(
        k + b"\x00" + v + b"\x00"
        for k, v in ((b"user", user.encode()), (b"database", database.encode()))
    )
    body = struct.pack(">i", 196608) + params + b"\x00"  # protocol 3.0
    with socket.create_connection((host, port), timeout=TIMEOUT) as sock:
        sock.settimeout(TIMEOUT)
        sock.sendall(struct.pack(">i", len(body) + 4) + body)
        while True:
            kind = _recv_exact(sock, 1)
            (length,) = struct.unpack(">i", _recv_exact(sock, 4))
            payload = _recv_exact(sock, length - 4)
            if kind == b"E":
                fields = dict((f[:1], f[1:]) for f in payload.split(b"\x00") if f)
                message = fields.get(b"M", b"?").decode(errors="replace")
                print(f"postgres: {message}", file=sys.stderr)
                return False
            if kind == b"R":
                (code,) = struct.unpack_from(">i", payload, 0)
                if code != 0:  # the local cluster trusts loopback; anything else is not ours
                    print(f"postgres: authentication method {code} requested", file=sys.stderr)
                    return False
            if kind == b"Z":  # ReadyForQuery
                sock.sendall(b"X" + struct.pack(">i", 4))  # Terminate
                return True


def main(argv):
    if len(argv) == 2 and argv[1] == "uuid":
        print(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))
        return 0
    if len(argv) != 4 or argv[1] not in ("kafka", "mongo", "postgres"):
        print(__doc__, file=sys.stderr)
        return 2
    fn = {"kafka": probe_kafka, "mongo": probe_mongo, "postgres": probe_postgres}[argv[1]]
    try:
        return 0 if fn(argv[2], int(argv[3])) else 1
    except (OSError, ValueError, struct.error, IndexError) as exc:
        print(f"{argv[1]} probe: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
