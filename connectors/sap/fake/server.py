"""Run the fake: `serve_fake(fake)` in a thread for tests, or `python -m connectors.sap.fake`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import uvicorn

from .app import FakeApp
from .fake import FakeS4

_LOST = "ASGI callable returned without completing response."


class _QuietLostResponses(logging.Filter):
    """The "drop" fault leaves responses unfinished on purpose; uvicorn need not shout."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != _LOST


def _server(fake: FakeS4, log_level: str) -> uvicorn.Server:
    errors = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, _QuietLostResponses) for f in errors.filters):
        errors.addFilter(_QuietLostResponses())
    config = uvicorn.Config(
        FakeApp(fake),
        log_level=log_level,
        access_log=False,
        lifespan="off",
        timeout_graceful_shutdown=2,
    )
    return uvicorn.Server(config)


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


@contextmanager
def serve_fake(fake: FakeS4, port: int = 0, *, log_level: str = "warning") -> Iterator[str]:
    """Serve `fake` on 127.0.0.1 in a daemon thread; yields "http://127.0.0.1:<port>"."""
    sock = _bind("127.0.0.1", port)
    server = _server(fake, log_level)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="fake-s4hana", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("the fake S/4HANA server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m connectors.sap.fake",
        description="Fake SAP S/4HANA OData V2 server (tests, demos).",
    )
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--business-partners", type=int, default=50)
    parser.add_argument("--products", type=int, default=20)
    parser.add_argument("--sales-orders", type=int, default=30)
    parser.add_argument("--billing-documents", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--page-size", type=int, default=1000)
    parser.add_argument("--username", default="L2C_COMM")
    parser.add_argument("--password", default="s3cret-Pa55")
    parser.add_argument("--ready-file", type=Path, help="write the base URL here once listening")
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    fake = FakeS4(
        business_partners=args.business_partners,
        products=args.products,
        sales_orders=args.sales_orders,
        billing_documents=args.billing_documents,
        seed=args.seed,
        page_size=args.page_size,
        username=args.username,
        password=args.password,
    )
    sock = _bind("127.0.0.1", args.port)
    server = _server(fake, args.log_level)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"

    async def announce() -> None:
        while not server.started:
            await asyncio.sleep(0.01)
        sys.stdout.write(f"listening on {url}\n")
        sys.stdout.flush()
        if args.ready_file:
            tmp = args.ready_file.with_suffix(args.ready_file.suffix + ".tmp")
            tmp.write_text(url + "\n", encoding="utf-8")
            tmp.replace(args.ready_file)

    async def run() -> None:
        waiter = asyncio.create_task(announce())
        await server.serve(sockets=[sock])
        waiter.cancel()

    asyncio.run(run())
