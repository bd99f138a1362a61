#!/usr/bin/env bash
# Workspace status for stamped builds (`bazel build --config=release //:greeter_image`): prints
# the keys py_service_image's default `stamp_labels` read, as "KEY value" lines.
#   STABLE_VERSION           org.opencontainers.image.version   (the release tag on HEAD, else
#                                                                the nearest tag + commits, else 0.0.0)
#   STABLE_GIT_COMMIT        org.opencontainers.image.revision
#   STABLE_GIT_URL           org.opencontainers.image.source    (the `origin` remote)
#   BUILD_TIMESTAMP_RFC3339  org.opencontainers.image.created   (volatile: no rebuild when only it changes)
# STABLE_ keys are part of the action cache key, so a new commit re-stamps. A key with no value
# is not printed; its label is then empty.
set -euo pipefail

emit() {
  [[ -n "$2" ]] && echo "$1 $2"
  return 0
}

# (Bazel prints its own BUILD_TIMESTAMP in seconds; images want RFC 3339.)
emit BUILD_TIMESTAMP_RFC3339 "$(date -u +%Y-%m-%dT%H:%M:%SZ)"

if ! commit="$(git rev-parse HEAD 2>/dev/null)"; then
  echo "workspace_status.sh: not a git checkout; no version, revision or source to stamp" >&2
  exit 0
fi
if [[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]]; then
  commit="$commit-dirty"
fi
emit STABLE_GIT_COMMIT "$commit"
emit STABLE_GIT_URL "$(git config --get remote.origin.url || true)"
emit STABLE_VERSION "$(git describe --tags 2>/dev/null || echo 0.0.0)"
