"""The floor of the API benchmark: a bare ASGI app on Gumshoe's server stack.

Same stack as ``gumshoe serve`` (uvicorn, uvloop, httptools, one process, access log off,
no Server header, Date header on); it reads the request body and answers a fixed JSON body
shaped like a one-graph ListGraphs response. Nothing a real server does less than this.

    python benchmarks/bare_app.py --port 8000
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import uvicorn

Message = MutableMapping[str, Any]

BODY = (
    b'{"GraphList":[{"Arn":"arn:aws:detective:us-east-1:111111111111:graph:0123456789abcdef0123456789abcdef",'
    b'"CreatedTime":"2026-11-20T23:20:00.000Z"}]}'
)
HEADERS = [
    (b"content-type", b"application/json"),
    (b"content-length", str(len(BODY)).encode()),
]


async def app(scope: MutableMapping[str, Any], receive: Callable[[], Awaitable[Message]],
              send: Callable[[Message], Awaitable[None]]) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["type"] != "http":
        return
    while True:  # read the whole request body, as any real handler must
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args()
    config = uvicorn.Config(
        app, host=args.host, port=args.port, loop="uvloop", http="httptools", lifespan="on",
        access_log=False, log_level="warning", server_header=False, date_header=True, workers=1,
    )
    print(f"bare app listening on http://{args.host}:{args.port}", flush=True)
    uvicorn.Server(config).run()


if __name__ == "__main__":
    main()
