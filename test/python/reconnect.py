"""Python autobahn (Debian's python3-autobahn, asyncio Component) reconnects
after the router restarts. Usage: reconnect.py WS_URL JOINS
Prints "joined N" at each join and exits 0 after the JOINS-th."""
import asyncio
import sys

import txaio
from autobahn.asyncio.component import Component


def main(url, want):
    joins = 0
    component = Component(
        transports=[{"type": "websocket", "url": url, "max_retries": -1,
                     "initial_retry_delay": 0.2, "max_retry_delay": 1, "retry_delay_jitter": 0.1}],
        realm="realm1",
    )

    @component.on_join
    async def joined(session, details):
        nonlocal joins
        joins += 1
        print("joined", joins, flush=True)
        if joins >= want:
            await session.leave()
            await component.stop()

    # Debian's autobahn 22.7 run() uses asyncio.coroutine, gone from Python
    # 3.11: start the component on a loop of our own.
    txaio.use_asyncio()
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    txaio.config.loop = loop
    loop.run_until_complete(component.start(loop))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
