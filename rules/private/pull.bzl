"""oci_pull: a base image from a registry, fetched by digest at repository time.

WORKSPACE:

    load("@rules_pyoci//rules:repositories.bzl", "oci_pull")
    oci_pull(
        name = "distroless_python3",
        image = "gcr.io/distroless/python3-debian12",
        digest = "sha256:...",          # from `pyoci pull ...:nonroot` or the registry's UI
        platform = "linux/amd64",
    )

then `py_image(base = "@distroless_python3", ...)`. `pyoci pull` does the fetching: every
manifest and blob is verified against its digest, one platform is chosen from an index, and
credentials come from the docker CLI's config ($DOCKER_CONFIG, ~/.docker/config.json) exactly as
for `docker pull`. A `tag` instead of a `digest` works but prints a warning, since a tag can
move under a build that should be reproducible.

bzlmod: the module extension's `pull` tag takes the same attributes (see OCI_PULL_TAG_ATTRS).
"""

load(":layer_findings.bzl", "layer_findings_action")
load(":providers.bzl", "OciImageInfo", "pyoci_binary")

# Changing these may change what a pull fetches (credentials, the binary used).
_ENVIRON = ["DOCKER_CONFIG", "HOME", "PATH", "PYOCI_BINARY"]

def _pulled_image_impl(ctx):
    layout = ctx.actions.declare_directory(ctx.label.name)
    verified = ctx.actions.declare_file(ctx.label.name + ".verified.json")
    pyoci = pyoci_binary(ctx)

    # The layout arrives as source files of the external repository; a tree artifact is what
    # OciImageInfo carries, so they are copied into one (hard links are not allowed to escape
    # the sandbox). The paths are relative to the layout directory. The copy is then hashed
    # once, here: images built on it trust the record instead of hashing the base again, and
    # a blob changed in the repository re-runs this action, which fails on it.
    prefix = ctx.attr.layout_dir + "/"
    args = ctx.actions.args()
    args.add(pyoci)
    args.add(verified)
    args.add(layout.path)
    for f in ctx.files.srcs:
        relative = f.short_path.split("/" + prefix, 1)
        if len(relative) != 2:
            fail("oci_pulled_image {}: {} is not under {}".format(ctx.label, f.short_path, prefix))
        args.add(f)
        args.add(relative[1])
    ctx.actions.run_shell(
        command = """\
set -euo pipefail
pyoci="$1"; verified="$2"; out="$3"; shift 3
mkdir -p "$out"
while [[ $# -gt 0 ]]; do
  mkdir -p "$out/$(dirname "$2")"
  cp "$1" "$out/$2"
  shift 2
done
"$pyoci" inspect "$out" --verified-out "$verified" >/dev/null
""",
        arguments = [args],
        inputs = ctx.files.srcs,
        tools = [pyoci],
        outputs = [layout, verified],
        mnemonic = "PyociPulledLayout",
        progress_message = "Copying the pulled image {}".format(ctx.label),
    )

    # The pulled layers' gate findings, recorded once, keyed by the copied layout.
    findings = layer_findings_action(ctx, pyoci, ctx.label.name + ".layer_findings.json", "the pulled image {}".format(ctx.label), layout = layout)
    return [
        DefaultInfo(files = depset([layout]), runfiles = ctx.runfiles(files = [layout, ctx.file.digest])),
        OutputGroupInfo(digest = depset([ctx.file.digest]), layer_findings = depset([findings])),
        OciImageInfo(
            layout = layout,
            digest = ctx.file.digest,
            verified = verified,
            user = ctx.attr.user,
            debug = ctx.attr.debug,
            layer_findings = depset([findings]),
        ),
    ]

oci_pulled_image = rule(
    implementation = _pulled_image_impl,
    doc = "An image layout fetched by oci_pull, as an OciImageInfo a py_image can use as `base`.",
    attrs = {
        "srcs": attr.label_list(doc = "The layout's files.", allow_files = True, mandatory = True),
        "layout_dir": attr.string(doc = "The directory (in the repository) holding the layout.", mandatory = True),
        "digest": attr.label(doc = "File holding the image manifest digest.", allow_single_file = True, mandatory = True),
        "user": attr.string(doc = "The image config's User (\"\" is root)."),
        "debug": attr.bool(doc = "The image carries a shell."),
    },
    toolchains = ["@rules_pyoci//rules:toolchain_type"],
)

def _pyoci_path(rctx):
    explicit = rctx.os.environ.get("PYOCI_BINARY", "")
    if explicit:
        return rctx.path(explicit)
    return rctx.path(rctx.attr.pyoci)

def _config_user(rctx, layout):
    """The User of the pulled image's config, read from the layout just written."""
    index = json.decode(rctx.read(layout + "/index.json"))
    manifest_digest = index["manifests"][0]["digest"]
    manifest = json.decode(rctx.read(layout + "/blobs/" + manifest_digest.replace(":", "/")))
    config = json.decode(rctx.read(layout + "/blobs/" + manifest["config"]["digest"].replace(":", "/")))
    return config.get("config", {}).get("User", "") or ""

def _oci_pull_impl(rctx):
    image = rctx.attr.image
    if rctx.attr.digest and rctx.attr.tag:
        fail("oci_pull {}: give `digest` or `tag`, not both (the digest is what is fetched)".format(rctx.name))
    if rctx.attr.digest:
        if not rctx.attr.digest.startswith("sha256:"):
            fail("oci_pull {}: digest {!r} is not sha256:<hex>".format(rctx.name, rctx.attr.digest))
        reference = "{}@{}".format(image, rctx.attr.digest)
    elif rctx.attr.tag:
        reference = "{}:{}".format(image, rctx.attr.tag)
    else:
        fail("oci_pull {}: give `digest` (reproducible) or `tag`".format(rctx.name))

    args = [
        _pyoci_path(rctx),
        "pull",
        reference,
        "-o",
        "layout",
        "--platform",
        rctx.attr.platform,
        "--digest-out",
        "digest",
    ]
    if rctx.attr.insecure:
        args.append("--insecure")
    if rctx.attr.ca_cert:
        args.extend(["--ca-cert", rctx.path(rctx.attr.ca_cert)])

    # pyoci's own deadline fires first, with a message naming the host and the request.
    args.extend(["--timeout", str(max(rctx.attr.timeout - 5, 1))])
    rctx.report_progress("Pulling " + reference)
    result = rctx.execute(args, timeout = rctx.attr.timeout, quiet = True)
    if result.return_code != 0:
        fail("oci_pull {}: pulling {} failed:\n{}".format(rctx.name, reference, result.stderr))
    if not rctx.attr.digest:
        # The warning from pyoci names the digest to pin.
        print("oci_pull {}: {}".format(rctx.name, result.stderr.strip()))

    user = rctx.attr.user
    if user == None or user == "":
        user = _config_user(rctx, "layout")
    rctx.file("BUILD.bazel", """\
# Generated by rules_pyoci's oci_pull from {reference}.
load("@rules_pyoci//rules/private:pull.bzl", "oci_pulled_image")

package(default_visibility = ["//visibility:public"])

exports_files(["digest"])

oci_pulled_image(
    name = "{name}",
    srcs = glob(["layout/**"]),
    layout_dir = "layout",
    digest = "digest",
    user = {user},
    debug = {debug},
)

alias(
    name = "image",
    actual = ":{name}",
)
""".format(
        reference = reference,
        name = rctx.attr.target_name or rctx.name,
        user = repr(user),
        debug = repr(rctx.attr.debug),
    ))

_PULL_ATTRS = {
    "image": attr.string(
        doc = "The image without tag or digest: `REGISTRY/REPOSITORY`, e.g. " +
              "`gcr.io/distroless/python3-debian12` (Docker Hub names like `python` work too).",
        mandatory = True,
    ),
    "digest": attr.string(
        doc = "The manifest (or multi-platform index) digest, `sha256:<hex>`. Recommended: " +
              "every byte fetched is checked against it.",
    ),
    "tag": attr.string(
        doc = "A tag, when no digest is given; prints a warning naming the digest to pin.",
    ),
    "platform": attr.string(
        doc = "Platform picked from an index, `OS/ARCH[/VARIANT]`.",
        default = "linux/amd64",
    ),
    "user": attr.string(
        doc = "The user the image runs as, for py_image's checks. Default: the config's User.",
    ),
    "debug": attr.bool(
        doc = "The image has a shell (a debug base).",
        default = False,
    ),
    "insecure": attr.bool(
        doc = "Plain HTTP to a registry that is not on localhost/127.0.0.1.",
        default = False,
    ),
    "ca_cert": attr.label(
        doc = "A PEM file of CA certificates to trust for the registry, on top of the system " +
              "store and `/etc/docker/certs.d/<host[:port]>/` (or `/etc/containers/certs.d`).",
        allow_single_file = True,
    ),
    "timeout": attr.int(
        doc = "Seconds the pull may take.",
        default = 1800,
    ),
}

oci_pull = repository_rule(
    implementation = _oci_pull_impl,
    doc = "Fetches a registry image by digest with `pyoci pull`; `@<name>` is a base for py_image.",
    attrs = dict(_PULL_ATTRS, **{
        "target_name": attr.string(
            doc = "Name of the image target (default: the repository's name, so `@<name>` works).",
        ),
        "pyoci": attr.label(
            doc = "The pyoci executable ($PYOCI_BINARY overrides it).",
            default = Label("@rules_pyoci_toolchain//:pyoci"),
            allow_single_file = True,
        ),
    }),
    environ = _ENVIRON,
)

# The bzlmod `pull` tag: `oci.pull(name = "...", image = "...", digest = "sha256:...")`.
OCI_PULL_TAG_ATTRS = dict(_PULL_ATTRS, **{
    "name": attr.string(doc = "Repository name (`@<name>` in BUILD files).", mandatory = True),
})

def oci_pull_from_tag(tag):
    """Declares the oci_pull repository one bzlmod `pull` tag asks for."""
    oci_pull(
        name = tag.name,
        target_name = tag.name,
        image = tag.image,
        digest = tag.digest,
        tag = tag.tag,
        platform = tag.platform,
        user = tag.user,
        debug = tag.debug,
        insecure = tag.insecure,
        ca_cert = tag.ca_cert,
        timeout = tag.timeout,
    )
