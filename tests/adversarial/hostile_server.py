#!/usr/bin/env python3
"""A misbehaving OpenAI-compatible server for tests/adversarial/ (loopback only).

    hostile_server.py MODE PORT_FILE [RECORD_FILE]

Listens on 127.0.0.1 on a free port, writes the port to PORT_FILE, and answers
every POST as MODE says:

  silent       reads the request and never answers (holds the connection)
  trickle      a 200 whose header and body come one byte a second
  cut          a 200 announcing 100000 body bytes that closes after 20
  huge         a 200 with a 100 MB body (sent as fast as the client reads)
  quote-200    a 200 whose reply text quotes the request's API key
  quote-400    a 400 whose error message quotes the request's API key
  quote-503    a 503 whose error page quotes the request's API key
  record       a 200 ("VERDICT: APPROVED" for a review, a draft otherwise);
               every request body is appended to RECORD_FILE, one JSON per line

Each connection gets its own thread; the server runs until killed. It speaks
just enough HTTP/1.1 for libcurl: one request per connection, then close.
"""
import json
import os
import socket
import sys
import threading
import time


def read_request(conn):
    """(headers dict with lower-case names, body bytes) or None."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    headers = {}
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        headers[name.strip().lower().decode()] = value.strip().decode(errors="replace")
    want = int(headers.get("content-length", "0"))
    while len(body) < want:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return headers, body


def api_key(headers):
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:]
    return headers.get("x-goog-api-key", headers.get("x-api-key", ""))


def reply(status, reason, body, content_type="application/json"):
    if isinstance(body, str):
        body = body.encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


def completion(text):
    return json.dumps(
        {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]}
    )


def prompt_of(body):
    try:
        msgs = json.loads(body)["messages"]
        return "\n".join(m.get("content", "") for m in msgs if isinstance(m.get("content"), str))
    except (ValueError, KeyError, TypeError):
        return ""


def serve(conn, mode, record):
    try:
        req = read_request(conn)
        if req is None:
            return
        headers, body = req
        key = api_key(headers)
        if mode == "silent":
            while conn.recv(65536):
                pass
            return
        if mode == "trickle":
            for b in reply(200, "OK", completion("slow")):
                conn.sendall(bytes([b]))
                time.sleep(1)
            return
        if mode == "cut":
            conn.sendall(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100000\r\n\r\n" + b'{"choices": [{"me'
            )
            return
        if mode == "huge":
            size = 100 * 1024 * 1024
            conn.sendall(
                f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                f"Content-Length: {size}\r\n\r\n".encode()
            )
            block = b"x" * 65536
            for _ in range(size // len(block)):
                conn.sendall(block)
            return
        if mode == "quote-200":
            text = f"# Design: quoted\n\nVERDICT: APPROVED\nThe key you sent: {key}\n"
            conn.sendall(reply(200, "OK", completion(text)))
            return
        if mode == "quote-400":
            err = {"error": {"message": f"Invalid key {key} for this model",
                             "type": "invalid_request_error", "code": None}}
            conn.sendall(reply(400, "Bad Request", json.dumps(err)))
            return
        if mode == "quote-503":
            page = f"<html>upstream down; request carried Authorization: Bearer {key}</html>"
            conn.sendall(reply(503, "Service Unavailable", page, "text/html"))
            return
        if mode == "record":
            with record_lock:
                with open(record, "ab") as f:
                    f.write(body.replace(b"\n", b" ") + b"\n")
            prompt = prompt_of(body)
            if "AGENTOS-ROLE: review" in prompt:
                text = "Review notes: fine.\n\nVERDICT: APPROVED\n"
            else:
                text = "# Design: recorded\n\nA design.\n"
            conn.sendall(reply(200, "OK", completion(text)))
            return
    except OSError:
        pass
    finally:
        try:
            conn.close()
        except OSError:
            pass


record_lock = threading.Lock()


def main():
    mode, port_file = sys.argv[1], sys.argv[2]
    record = sys.argv[3] if len(sys.argv) > 3 else None
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    with open(port_file + ".tmp", "w") as f:
        f.write(f"{srv.getsockname()[1]}\n")
    os.rename(port_file + ".tmp", port_file)
    while True:
        conn, _ = srv.accept()
        threading.Thread(target=serve, args=(conn, mode, record), daemon=True).start()


if __name__ == "__main__":
    main()
