"""Publish to switchboard's HTTP bridge with a signed request (Crossbar's
scheme). Standard library only. A router that is down never breaks a save:
the failure is logged and the request returns normally."""
import base64
import datetime
import hashlib
import hmac
import itertools
import json
import logging
import os
import urllib.error
import urllib.parse
import urllib.request

from django.conf import settings

log = logging.getLogger("board.realtime")
_seq = itertools.count(1)


def _sign(secret, key, timestamp, seq, nonce, body):
    mac = hmac.new(secret.encode(), digestmod=hashlib.sha256)
    for part in (key, timestamp, seq, nonce):
        mac.update(part.encode())
    mac.update(body)
    return base64.urlsafe_b64encode(mac.digest()).decode()


def _bridge(path, payload, what):
    """POST a signed JSON request to the bridge; return the decoded answer, or
    None (logged as what failed)."""
    body = json.dumps(payload).encode()
    key, secret = settings.SWITCHBOARD_BRIDGE_KEY, settings.SWITCHBOARD_BRIDGE_SECRET
    seq = str(next(_seq))
    timestamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    nonce = base64.urlsafe_b64encode(os.urandom(12)).decode()
    query = urllib.parse.urlencode({"key": key, "timestamp": timestamp, "seq": seq, "nonce": nonce,
                                    "signature": _sign(secret, key, timestamp, seq, nonce, body)})
    req = urllib.request.Request(f"{settings.SWITCHBOARD_HTTP}{path}?{query}", data=body,
                                 headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=2) as resp:
            return json.load(resp)
    except (urllib.error.URLError, OSError, ValueError) as e:
        log.warning("realtime %s failed: %s", what, e)
        return None


def publish(topic, *args, **kwargs):
    """Publish an event; return its publication id, or None if it failed."""
    answer = _bridge("/publish", {"topic": topic, "args": list(args), "kwargs": kwargs}, f"publish to {topic}")
    return answer.get("id") if answer else None


def position(topic):
    """The newest publication switchboard keeps for topic (None if none, or
    if the router is down). Ask before reading the data the page renders:
    the page then subscribes with _since = this position and misses nothing
    published between the render and its subscribe."""
    answer = _bridge("/position", {"topic": topic}, f"position of {topic}")
    return answer.get("publication") if answer else None


def verify_signature(request, tolerance=300):
    """Check X-Switchboard-Signature on a request from switchboard."""
    import time
    header = request.headers.get("X-Switchboard-Signature", "")
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        t = parts["t"]
        expected = hmac.new(settings.SWITCHBOARD_HOOK_SECRET.encode(), t.encode() + b"." + request.body,
                            hashlib.sha256).hexdigest()
        return abs(time.time() - int(t)) <= tolerance and hmac.compare_digest(expected, parts["v1"])
    except (KeyError, ValueError):
        return False
