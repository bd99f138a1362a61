#!/usr/bin/env bash
# Workspace status for stamped builds: `bazel run --stamp
# --workspace_status_command=./workspace_status.sh //:push` (or --config=release).
# Prints "KEY value" lines; STABLE_ keys are part of the action cache key, so a new commit
# re-stamps. Values are made valid as image tags ([A-Za-z0-9_.-], at most 128 characters).
# A key with no value (no release tag on HEAD) is not printed, and oci_push skips the tag.
set -euo pipefail

as_tag() {
  local value
  value="$(printf '%s' "$1" | tr -c 'A-Za-z0-9_.-' '-')"
  value="${value#"${value%%[!.-]*}"}"
  printf '%s' "${value:0:128}"
}

emit() {
  [[ -n "$2" ]] && echo "$1 $2"
  return 0
}

if ! commit="$(git rev-parse HEAD 2>/dev/null)"; then
  echo "workspace_status.sh: not a git checkout; no git tags to stamp" >&2
  exit 0
fi
dirty=""
if [[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]]; then
  dirty="-dirty"
fi
branch="$(git rev-parse --abbrev-ref HEAD)"
# CI checkouts are often detached; CI systems name the branch in the environment.
if [[ "$branch" == "HEAD" ]]; then
  branch="${GITHUB_REF_NAME:-${CI_COMMIT_REF_NAME:-${BRANCH_NAME:-}}}"
fi
release="$(git describe --tags --exact-match HEAD 2>/dev/null || true)"

emit STABLE_GIT_COMMIT "$commit$dirty"
emit STABLE_GIT_SHORT_COMMIT "$(as_tag "${commit:0:12}$dirty")"
emit STABLE_GIT_BRANCH "$(as_tag "$branch")"
# A release tag on a dirty tree would be a lie.
[[ -z "$dirty" ]] && emit STABLE_GIT_RELEASE_TAG "$(as_tag "$release")"
exit 0
