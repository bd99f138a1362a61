"""Distroless Python 3.11 bases built by a Bazel action from pinned Debian packages.

Two kinds of repositories:
- one "debs" repository holding the locked .deb files, each verified against the lock's sha256,
  copied from a local directory or downloaded from Debian mirrors the user names;
- one small repository per variant (`@distroless_python_nonroot` ...) whose default target
  (`//:distroless_python_nonroot`) is a `distroless_python_image` built from those debs by
  `pyoci base`.
"""

load(":bytecode.bzl", "PYTHON_COMPILER_ATTRS", "python_compiler")
load(":layer_findings.bzl", "layer_findings_action")
load(":providers.bzl", "OciImageInfo", "pyoci_binary")

VARIANTS = {
    # variant -> (the User `pyoci base` writes into the config, carries a shell)
    "base": ("0", False),
    "nonroot": ("65532", False),
    "debug": ("0", True),
    "debug-nonroot": ("65532", True),
}

_ENV_DEBS_DIR = "PYOCI_DEBS_DIR"

def _distroless_python_image_impl(ctx):
    layout = ctx.actions.declare_directory(ctx.label.name)
    digest = ctx.actions.declare_file(ctx.label.name + ".digest")
    verified = ctx.actions.declare_file(ctx.label.name + ".verified.json")
    debs = ctx.files.debs
    if not debs:
        fail("distroless_python_image {}: attribute `debs` holds no .deb files".format(ctx.label))
    args = ctx.actions.args()
    args.add("base")
    args.add("--debs", debs[0].dirname)
    args.add("--variant", ctx.attr.variant)
    args.add("--lock", ctx.file.lock)
    args.add("--compression", ctx.attr.compression)
    args.add("-o", layout.path)
    args.add("--digest-out", digest)
    args.add("--quiet")
    args.add("--verified-out", verified)
    tools = []
    env = {}
    if ctx.attr.bytecode:
        # The compiler py_image uses for its layers: the base's own CPython, from the same .debs.
        compiler = python_compiler(ctx)
        args.add("--compile-bytecode-with", compiler.executable)
        tools = compiler.tools
        env = compiler.env
    ctx.actions.run(
        executable = pyoci_binary(ctx),
        arguments = [args],
        inputs = debs + [ctx.file.lock],
        tools = tools,
        env = env,
        outputs = [layout, digest, verified],
        mnemonic = "PyociBase",
        progress_message = "Building the distroless Python base {} ({})".format(ctx.label, ctx.attr.variant),
    )
    user, debug = VARIANTS[ctx.attr.variant]

    # The base's gate findings, recorded once: images on it combine them, not the base's bytes.
    findings = layer_findings_action(ctx, pyoci_binary(ctx), ctx.label.name + ".layer_findings.json", "the base {}".format(ctx.label), layout = layout)
    return [
        DefaultInfo(files = depset([layout]), runfiles = ctx.runfiles(files = [layout, digest])),
        OutputGroupInfo(digest = depset([digest]), layer_findings = depset([findings])),
        OciImageInfo(layout = layout, digest = digest, verified = verified, user = user, debug = debug, layer_findings = depset([findings])),
    ]

distroless_python_image = rule(
    implementation = _distroless_python_image_impl,
    doc = "A distroless Python 3.11 base image layout built from locked .deb files by `pyoci base`.",
    attrs = dict(PYTHON_COMPILER_ATTRS, **{
        "debs": attr.label(
            doc = "The locked .deb files, all in one directory (a debs repository's `//:debs`).",
            mandatory = True,
            allow_files = [".deb"],
        ),
        "lock": attr.label(
            doc = "The lock (JSON: name, version, sha256, pool path) the debs were verified against.",
            mandatory = True,
            allow_single_file = [".json"],
        ),
        "variant": attr.string(
            doc = "`base` (root), `nonroot` (uid 65532), `debug` (busybox shell, root) or `debug-nonroot`.",
            mandatory = True,
            values = sorted(VARIANTS.keys()),
        ),
        "compression": attr.string(
            doc = "Layer compression: `gzip` (every engine) or `zstd` (Docker 23+, podman).",
            default = "gzip",
            values = ["gzip", "zstd"],
        ),
        "bytecode": attr.bool(
            doc = "Ship the standard library's `__pycache__` (what Debian's postinst would have " +
                  "compiled), so a container need not compile typing, asyncio, ... at every start " +
                  "(the image's user cannot write them). The base's CPython 3.11 compiles them at " +
                  "build time: set `False` on hosts that cannot run Debian 12's CPython (glibc < 2.36).",
            default = True,
        ),
    }),
    toolchains = ["@rules_pyoci//rules:toolchain_type"],
)

def _url_path_escape(path):
    # Debian file names carry epochs as "%3a"; a file:// URL must keep the '%' literal.
    return path.replace("%", "%25")

def _resolve_debs_dir(rctx):
    configured = rctx.os.environ.get(_ENV_DEBS_DIR, "") or rctx.attr.debs_dir
    if not configured:
        return None
    if configured.startswith("/"):
        directory = rctx.path(configured)
    elif hasattr(rctx, "workspace_root"):
        directory = rctx.path("{}/{}".format(rctx.workspace_root, configured))
    elif rctx.attr.workspace_file:
        directory = rctx.path("{}/{}".format(rctx.path(rctx.attr.workspace_file).dirname, configured))
    else:
        fail("distroless debs: `debs_dir` {} is relative; on this Bazel name the workspace root ".format(configured) +
             "with `workspace_file` (e.g. \"@//:WORKSPACE\") or pass an absolute path")
    if not directory.exists:
        fail("distroless debs: the .deb directory {} (from {}) does not exist".format(
            directory,
            "$" + _ENV_DEBS_DIR if rctx.os.environ.get(_ENV_DEBS_DIR, "") else "the `debs_dir` attribute",
        ))
    return directory

def _local_candidates(package):
    # Pool file names drop the epoch; `apt-get download` keeps it, escaped as %3a.
    pool_name = package["filename"].split("/")[-1]
    downloaded_name = "{}_{}_{}.deb".format(
        package["name"],
        package["version"].replace(":", "%3a"),
        package["architecture"],
    )
    return [pool_name] if pool_name == downloaded_name else [pool_name, downloaded_name]

def _distroless_debs_repository_impl(rctx):
    lock_text = rctx.read(rctx.attr.lock)
    lock = json.decode(lock_text)
    packages = lock.get("packages", [])
    if not packages:
        fail("distroless debs: lock {} lists no packages".format(rctx.attr.lock))
    local_dir = _resolve_debs_dir(rctx)
    mirrors = [m.rstrip("/") for m in rctx.attr.mirrors]
    if local_dir == None and not mirrors:
        fail("distroless debs: name a local .deb directory (`debs_dir`, or $" + _ENV_DEBS_DIR +
             " via --repo_env) or at least one Debian mirror (`mirrors`)")

    for package in packages:
        for field in ["name", "version", "architecture", "filename", "sha256"]:
            if not package.get(field):
                fail("distroless debs: lock {} has a package without `{}`: {}".format(rctx.attr.lock, field, package))
        urls = []
        if local_dir != None:
            for candidate in _local_candidates(package):
                local = local_dir.get_child(candidate)
                if local.exists:
                    urls.append("file://" + _url_path_escape(str(local)))
                    break
        urls.extend([m + "/" + package["filename"] for m in mirrors])
        if not urls:
            fail("distroless debs: {} {} is not in {} and no mirror is configured".format(
                package["name"],
                package["version"],
                local_dir,
            ))

        # download() verifies the sha256 and fails naming the file on a mismatch.
        rctx.download(
            url = urls,
            output = "debs/" + package["filename"].split("/")[-1],
            sha256 = package["sha256"],
        )

    rctx.file("lock.json", lock_text)
    rctx.file("BUILD.bazel", """\
# Generated by rules_pyoci: the .deb files of {lock}, each checked against its sha256.
package(default_visibility = ["//visibility:public"])

filegroup(
    name = "debs",
    srcs = glob(["debs/*.deb"]),
)

exports_files(["lock.json"])
""".format(lock = rctx.attr.lock))

distroless_debs_repository = repository_rule(
    implementation = _distroless_debs_repository_impl,
    doc = "Fetches the .deb files a distroless lock pins, verifying each sha256.",
    attrs = {
        "lock": attr.label(
            doc = "The lock file: {distribution, architecture, packages: [{name, version, architecture, filename, sha256}]}.",
            mandatory = True,
            allow_single_file = [".json"],
        ),
        "debs_dir": attr.string(
            doc = "A directory holding the .deb files (absolute, or relative to the workspace root). " +
                  "$PYOCI_DEBS_DIR (pass it with --repo_env) takes precedence.",
        ),
        "mirrors": attr.string_list(
            doc = "Debian mirror roots (e.g. https://deb.debian.org/debian or a snapshot.debian.org URL) " +
                  "tried, in order, for files missing from `debs_dir`.",
        ),
        "workspace_file": attr.label(
            doc = "A file at the root of the workspace that a relative `debs_dir` starts from " +
                  "(needed only on Bazel versions without repository_ctx.workspace_root).",
            allow_single_file = True,
        ),
    },
    environ = [_ENV_DEBS_DIR],
)

def _distroless_base_repository_impl(rctx):
    rctx.file("BUILD.bazel", """\
# Generated by rules_pyoci: the distroless Python 3.11 "{variant}" base.
load("@rules_pyoci//rules/private:distroless.bzl", "distroless_python_image")

package(default_visibility = ["//visibility:public"])

distroless_python_image(
    name = "{name}",
    debs = "@{debs}//:debs",
    lock = "@{debs}//:lock.json",
    variant = "{variant}",
    compression = "{compression}",
    bytecode = {bytecode},
)

alias(
    name = "image",
    actual = ":{name}",
)
""".format(
        name = rctx.attr.target_name,
        debs = rctx.attr.debs_repository,
        variant = rctx.attr.variant,
        compression = rctx.attr.compression,
        bytecode = rctx.attr.bytecode,
    ))

distroless_base_repository = repository_rule(
    implementation = _distroless_base_repository_impl,
    doc = "A repository whose default target is one distroless Python base variant.",
    attrs = {
        "target_name": attr.string(doc = "The image target's name: the repository's apparent name, so `@<name>` works.", mandatory = True),
        "debs_repository": attr.string(doc = "The apparent name of the distroless_debs_repository.", mandatory = True),
        "variant": attr.string(doc = "One of base, nonroot, debug, debug-nonroot.", mandatory = True, values = sorted(VARIANTS.keys())),
        "compression": attr.string(doc = "Layer compression of the base: gzip or zstd.", default = "gzip", values = ["gzip", "zstd"]),
        "bytecode": attr.bool(
            doc = "Compile the standard library's bytecode into the base (with the base's CPython 3.11, " +
                  "at build time); `False` on hosts that cannot run Debian 12's CPython (glibc < 2.36). " +
                  "The bytecode has unchecked hashes, never compared with its source: an image layer " +
                  "that replaces a standard-library `.py` (a patched module in `tars`) must also " +
                  "replace its `__pycache__` entry, or delete it.",
            default = True,
        ),
    },
)

# Apparent repository name -> variant.
BASE_REPOSITORIES = {
    "distroless_python_base": "base",
    "distroless_python_nonroot": "nonroot",
    "distroless_python_debug": "debug",
    "distroless_python_debug_nonroot": "debug-nonroot",
}
