"""Publish and call through switchboard's HTTP bridge from Python (requests).

Signed requests use Crossbar's scheme, so code written for Crossbar's HTTP
bridge works unchanged; bearer tokens are the simpler alternative.

    python3 switchboard_bridge.py publish --url http://127.0.0.1:8080 \
        --key django --secret "$SECRET" --topic app.news --args '["hello"]'
    python3 switchboard_bridge.py call --url http://127.0.0.1:8080 \
        --token "$TOKEN" --procedure app.add --args '[2, 3]'
"""

import argparse
import base64
import datetime
import hashlib
import hmac
import json
import os
import sys

import requests


def sign(secret, key, timestamp, seq, nonce, body):
    """base64url_padded(HMAC-SHA256(secret, key||timestamp||seq||nonce||body))."""
    mac = hmac.new(secret.encode(), digestmod=hashlib.sha256)
    for part in (key, timestamp, seq, nonce):
        mac.update(part.encode())
    mac.update(body)
    return base64.urlsafe_b64encode(mac.digest()).decode()


class Bridge:
    def __init__(self, url, key=None, secret=None, token=None, timeout=10):
        self.url = url.rstrip("/")
        self.key, self.secret, self.token = key, secret, token
        self.timeout = timeout
        self.seq = 0

    def _post(self, path, payload):
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        params = {}
        if self.secret:
            self.seq += 1
            timestamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
            nonce = base64.urlsafe_b64encode(os.urandom(12)).decode()
            params = {"key": self.key, "timestamp": timestamp, "seq": str(self.seq), "nonce": nonce,
                      "signature": sign(self.secret, self.key, timestamp, str(self.seq), nonce, body)}
        elif self.token:
            headers["Authorization"] = "Bearer " + self.token
        r = requests.post(self.url + path, params=params, data=body, headers=headers, timeout=self.timeout)
        reply = r.json()
        if r.status_code != 200 or "error" in reply:
            raise RuntimeError(f"{r.status_code} {reply}")
        return reply

    def publish(self, topic, args=None, kwargs=None, **options):
        return self._post("/publish", {"topic": topic, "args": args or [], "kwargs": kwargs or {}, "options": options})["id"]

    def publish_batch(self, events):
        return self._post("/publish", events)["ids"]

    def call(self, procedure, args=None, kwargs=None, timeout_ms=None):
        payload = {"procedure": procedure, "args": args or [], "kwargs": kwargs or {}}
        if timeout_ms:
            payload["options"] = {"timeout": timeout_ms}
        return self._post("/call", payload)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=["publish", "call"])
    p.add_argument("--url", default="http://127.0.0.1:8080")
    p.add_argument("--key")
    p.add_argument("--secret")
    p.add_argument("--token")
    p.add_argument("--topic")
    p.add_argument("--procedure")
    p.add_argument("--args", default="[]")
    p.add_argument("--kwargs", default="{}")
    a = p.parse_args()
    bridge = Bridge(a.url, key=a.key, secret=a.secret, token=a.token)
    if a.action == "publish":
        print(json.dumps({"id": bridge.publish(a.topic, json.loads(a.args), json.loads(a.kwargs))}))
    else:
        print(json.dumps(bridge.call(a.procedure, json.loads(a.args), json.loads(a.kwargs))))


if __name__ == "__main__":
    sys.exit(main())
