"""Python autobahn (Debian's python3-autobahn, asyncio) against a running
switchboard: pub/sub and RPC over WebSocket with JSON, MessagePack and CBOR.
(Debian's autobahn 22.7 asyncio RawSocket client fails on its own before
joining: 'WampRawSocketClientProtocol' has no attribute 'transport_details'.)
Usage: interop.py WS_URL
Prints one "ok <case>" line per case and exits non-zero on the first failure."""
import asyncio
import sys

from autobahn.asyncio.wamp import ApplicationSession
from autobahn.asyncio.websocket import WampWebSocketClientFactory
from autobahn.wamp.serializer import JsonSerializer, MsgPackSerializer, CBORSerializer
from autobahn.wamp.types import ComponentConfig, PublishOptions
from autobahn.wamp.exception import ApplicationError


async def exercise(session, name):
    got = asyncio.get_running_loop().create_future()
    prefix_got = asyncio.get_running_loop().create_future()

    def on_event(*args, **kwargs):
        if not got.done():
            got.set_result((args, kwargs))

    def on_prefix(*args, details=None, **kwargs):
        if not prefix_got.done():
            prefix_got.set_result(details.topic)

    from autobahn.wamp.types import SubscribeOptions
    await session.subscribe(on_event, f"com.py.{name}.news")
    await session.subscribe(on_prefix, f"com.py.{name}.", options=SubscribeOptions(match="prefix", details_arg="details"))
    await session.register(lambda a, b: a + b, f"com.py.{name}.add")

    def fail():
        raise ApplicationError("com.py.error.nope", "no", code=7)

    await session.register(fail, f"com.py.{name}.fail")
    await session.publish(f"com.py.{name}.news", "hello", 42, who="python",
                          options=PublishOptions(acknowledge=True, exclude_me=False))
    args, kwargs = await asyncio.wait_for(got, 5)
    assert args == ("hello", 42) and kwargs == {"who": "python"}, (args, kwargs)
    assert await asyncio.wait_for(prefix_got, 5) == f"com.py.{name}.news"
    assert await session.call(f"com.py.{name}.add", 40, 2) == 42
    try:
        await session.call(f"com.py.{name}.fail")
        raise AssertionError("no error")
    except ApplicationError as e:
        assert e.error == "com.py.error.nope" and e.kwargs.get("code") == 7, e

    from autobahn.wamp.types import RegisterOptions, CallOptions

    # Progressive results from a Python callee to a Python caller.
    async def count(details=None):
        for i in range(3):
            details.progress(i)
        return "done"

    await session.register(count, f"com.py.{name}.count", options=RegisterOptions(details_arg="details"))
    progress = []
    res = await session.call(f"com.py.{name}.count", options=CallOptions(on_progress=progress.append))
    assert res == "done" and progress == [0, 1, 2], (res, progress)

    # A prefix registration is told the procedure called.
    await session.register(lambda details=None: details.procedure, f"com.py.{name}.pat.",
                           options=RegisterOptions(match="prefix", details_arg="details"))
    assert await session.call(f"com.py.{name}.pat.x.y") == f"com.py.{name}.pat.x.y"

    # The dealer enforces a call's timeout (ms); the callee is interrupted.
    interrupted = asyncio.get_running_loop().create_future()

    async def hang():
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            interrupted.set_result(True)
            raise

    await session.register(hang, f"com.py.{name}.hang")
    try:
        await session.call(f"com.py.{name}.hang", options=CallOptions(timeout=200))
        raise AssertionError("no timeout")
    except ApplicationError as e:
        assert e.error == "wamp.error.timeout", e
    assert await asyncio.wait_for(interrupted, 5)


def make_session(name, done):
    class Session(ApplicationSession):
        async def onJoin(self, details):
            try:
                await exercise(self, name)
                done.set_result(None)
            except Exception as e:  # noqa: BLE001
                done.set_exception(e)
            self.leave()
    return Session


async def case(loop, name, factory_for):
    done = loop.create_future()
    Session = make_session(name, done)
    transport_factory, host, port = factory_for(lambda: Session(ComponentConfig("realm1")))
    transport, _ = await loop.create_connection(transport_factory, host, port)
    try:
        await asyncio.wait_for(done, 10)
    finally:
        transport.close()
    print("ok", name, flush=True)


async def main(ws_url):
    from urllib.parse import urlparse
    u = urlparse(ws_url)
    loop = asyncio.get_running_loop()
    for name, ser in (("json", JsonSerializer()), ("msgpack", MsgPackSerializer()), ("cbor", CBORSerializer())):
        await case(loop, f"websocket-{name}",
                   lambda mk, ser=ser: (WampWebSocketClientFactory(mk, url=ws_url, serializers=[ser]), u.hostname, u.port))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
