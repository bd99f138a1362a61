#!/bin/sh
# Entry point of one worker container: a buildbox-casd that caches the BuildGrid CAS locally and
# stages inputs by hard links (no FUSE in an unprivileged container), and a buildbox-worker that
# leases actions over the Bots API and runs each through output-paths-runner.py, which hands it
# to buildbox-run-hosttools.
# Usage: worker.sh BUILDGRID_URL BOT_NAME
set -eu
remote="$1"
bot="$2"
mkdir -p /var/cache/casd
buildbox-casd --cas-remote="$remote" --bind=unix:/run/casd.sock --log-level=warning /var/cache/casd &
for _ in $(seq 1 100); do
  [ -S /run/casd.sock ] && break
  sleep 0.1
done
exec buildbox-worker \
  --bots-remote="$remote" \
  --cas-remote=unix:/run/casd.sock \
  --buildbox-run=/opt/pyoci-remote/output-paths-runner.py \
  --platform OSFamily=linux --platform ISA=x86-64 \
  --max-wait-time=5 \
  "$bot"
