#!/usr/bin/env bash
# Checks the binary the Dockerfile ships: statically linked, and serving from
# an empty working directory with nothing but its config file, as in the
# distroless image; SIGTERM ends it with exit code 0.
set -euo pipefail
bin=$(realpath "$1")

if ldd "$bin" >/dev/null 2>&1; then
  echo "FAIL: $bin is dynamically linked:"; ldd "$bin"; exit 1
fi
echo "ok: $bin is statically linked"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$bin" "$work/switchboard"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sed -e "s/0.0.0.0:8080/127.0.0.1:$port/" -e '/0.0.0.0:8081/,/max_message_size/d' config.yaml > "$work/config.yaml"
cd "$work"
env -i SWITCHBOARD_BRIDGE_SECRET=static-check-secret-0123 SWITCHBOARD_BACKEND_TICKET=static-check-ticket-0123 ./switchboard --config config.yaml > log.txt 2>&1 &
pid=$!
for _ in $(seq 1 100); do
  if status=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/ws"); then break; fi
  sleep 0.1
done
if [ "${status:-}" != "426" ]; then
  echo "FAIL: GET /ws answered ${status:-nothing}, want 426"; cat log.txt; kill "$pid" || true; exit 1
fi
echo "ok: serves from an empty directory (GET /ws -> 426 Upgrade Required)"
kill -TERM "$pid"
if ! wait "$pid"; then
  echo "FAIL: exit code after SIGTERM is not 0"; cat log.txt; exit 1
fi
grep -q '"msg":"shutdown complete"' log.txt || { echo "FAIL: no shutdown log line"; cat log.txt; exit 1; }
echo "ok: SIGTERM -> graceful shutdown, exit 0"
