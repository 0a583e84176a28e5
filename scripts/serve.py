"""``make run``: bind the port first, then say where we serve, then serve (the demo server).

A busy or unusable port ends in one line naming it, before anything claims to be serving.
Usage: ``python scripts/serve.py [--host 127.0.0.1] [--port 5000]``.
"""

from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port; SystemExit with one line when that is not possible."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OverflowError) as exc:
        raise SystemExit(f"error: cannot serve on {host}:{port}: {exc}") from None
    family, kind, proto, _name, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        reason = "it is already in use" if exc.errno == 98 else exc.strerror or str(exc)
        raise SystemExit(
            f"error: port {port} on {host} is not free ({reason}); try `make run PORT={port + 1}`"
        ) from None
    sock.set_inheritable(True)
    return sock


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", default="5000")
    parser.add_argument("--check", action="store_true", help="only check the port is free")
    args = parser.parse_args(argv)
    if not args.port.isdigit() or not 0 < int(args.port) < 65536:
        raise SystemExit(f"error: PORT must be a number from 1 to 65535, not {args.port!r}")
    port = int(args.port)
    sock = bind(args.host, port)
    if args.check:
        sock.close()
        return 0

    sys.path.insert(0, str(ROOT))
    from werkzeug.serving import make_server

    from app import app

    server = make_server(args.host, port, app, threaded=True, fd=sock.fileno())
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"Serving on http://{shown}:{port} (demo logins above; password demo-pass-2026)",
          flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
