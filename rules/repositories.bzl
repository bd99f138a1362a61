"""WORKSPACE set-up for rules_pyoci.

    load("@rules_pyoci//rules:repositories.bzl", "distroless_python_bases", "oci_pull",
         "pip_lock_repository", "pyoci_register_toolchains", "rules_pyoci_dependencies")

    rules_pyoci_dependencies()        # the pyoci toolchain repository (built with cargo)
    pyoci_register_toolchains()
    distroless_python_bases(mirrors = ["https://deb.debian.org/debian"])
    pip_lock_repository(name = "pip", requirements_lock = "//:requirements_lock.txt")
    oci_pull(name = "python3", image = "gcr.io/distroless/python3-debian12", digest = "sha256:...")
    rules_oci_compat()                # optional: @rules_oci//oci:defs.bzl backed by rules_pyoci
"""

load("@bazel_tools//tools/build_defs/repo:utils.bzl", "maybe")
load("//rules/private:bytecode.bzl", "python_compiler_repository")
load("//rules/private:distroless.bzl", "BASE_REPOSITORIES", "distroless_base_repository", "distroless_debs_repository")
load("//rules/private:pip.bzl", _pip_lock_repository = "pip_lock_repository")
load("//rules/private:pull.bzl", _oci_pull = "oci_pull")
load("//rules/private:rules_oci_compat.bzl", "rules_oci_compat_repository")
load("//rules/private:toolchain_repo.bzl", "pyoci_toolchain_repository")

TOOLCHAIN_REPOSITORY = "rules_pyoci_toolchain"
PYTHON_COMPILER_REPOSITORY = "rules_pyoci_python311"
DEBS_REPOSITORY = "rules_pyoci_bookworm_debs"
DEFAULT_LOCK = Label("//rules/private/distroless:bookworm_amd64.lock.json")

pip_lock_repository = _pip_lock_repository

# A base image from a registry, fetched by digest (see rules/private/pull.bzl).
oci_pull = _oci_pull

def rules_pyoci_dependencies(pyoci = None):
    """Declares the repositories rules_pyoci needs: the pyoci toolchain and the bytecode compiler.

    The compiler (`@rules_pyoci_python311`) is the base's CPython 3.11 from its pinned .debs
    (read from `$PYOCI_DEBS_DIR` if there, else deb.debian.org). Every py_image and distroless
    base names it, so it is fetched with them (with `dpkg-deb`), also under `bytecode = False`,
    which only keeps it from running.

    Args:
      pyoci: label of a prebuilt pyoci executable. Default: build it from the rules_pyoci
        sources with cargo at fetch time (`$PYOCI_BINARY` names a prebuilt one instead;
        `$PYOCI_CARGO_TARGET_DIR` reuses a cargo target directory; pass both with --repo_env).
    """
    maybe(
        pyoci_toolchain_repository,
        name = TOOLCHAIN_REPOSITORY,
        pyoci = pyoci,
    )
    maybe(python_compiler_repository, name = PYTHON_COMPILER_REPOSITORY)

def pyoci_register_toolchains():
    """Registers the pyoci toolchain declared by rules_pyoci_dependencies()."""
    native.register_toolchains("@{}//:toolchain".format(TOOLCHAIN_REPOSITORY))

def distroless_python_bases(
        debs_dir = None,
        mirrors = [],
        lock = DEFAULT_LOCK,
        compression = "gzip",
        workspace_file = None,
        bytecode = True):
    """Declares @distroless_python_base, @distroless_python_nonroot, @distroless_python_debug and @distroless_python_debug_nonroot.

    Each repository's default target (e.g. `@distroless_python_nonroot//:distroless_python_nonroot`,
    written `@distroless_python_nonroot`) is a Python 3.11 base built by a Bazel action from the
    Debian packages pinned in `lock`, verified by sha256.

    Args:
      debs_dir: directory holding the .deb files (absolute, or relative to the workspace root).
        `$PYOCI_DEBS_DIR` (pass it with --repo_env) overrides it.
      mirrors: Debian mirror roots the files missing from `debs_dir` are downloaded from, e.g.
        `["https://deb.debian.org/debian"]`; use a snapshot.debian.org URL for versions Debian
        has since replaced.
      lock: the lock file (name, version, architecture, pool filename, sha256 per package).
      compression: `gzip` (default; every engine) or `zstd` for the base layers.
      workspace_file: a file at the workspace root (e.g. `"@//:WORKSPACE"`), needed for a
        relative `debs_dir` on Bazel versions whose repository_ctx lacks workspace_root.
      bytecode: ship the standard library's `__pycache__`, compiled at build time by the
        base's CPython 3.11 (`@rules_pyoci_python311`), so containers do not compile it at
        every start; `False` on hosts that cannot run Debian 12's CPython (glibc < 2.36).
    """
    maybe(
        distroless_debs_repository,
        name = DEBS_REPOSITORY,
        lock = lock,
        debs_dir = debs_dir,
        mirrors = mirrors,
        workspace_file = workspace_file,
    )
    for name, variant in BASE_REPOSITORIES.items():
        maybe(
            distroless_base_repository,
            name = name,
            target_name = name,
            debs_repository = DEBS_REPOSITORY,
            variant = variant,
            compression = compression,
            bytecode = bytecode,
        )

def rules_oci_compat(name = "rules_oci"):
    """Opt-in: a repository `@rules_oci` whose `//oci:defs.bzl` is backed by rules_pyoci.

    BUILD files written for rules_oci (`load("@rules_oci//oci:defs.bzl", "oci_push")`) then
    build unchanged: `oci_push`, `oci_load` and `oci_image_index` take rules_oci's attribute
    names. Do not call it in a workspace that also declares the real rules_oci
    (docs/migration.md).

    Args:
      name: the repository's name; keep `rules_oci` so existing loads resolve.
    """
    maybe(rules_oci_compat_repository, name = name)
