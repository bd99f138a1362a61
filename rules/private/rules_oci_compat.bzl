"""An opt-in repository named `rules_oci` whose `//oci:defs.bzl` is backed by rules_pyoci.

BUILD files written for rules_oci (such as the seed document's) load
`@rules_oci//oci:defs.bzl`; with `rules_oci_compat()` in WORKSPACE (or the `rules_oci_compat`
bzlmod extension) those loads resolve here. `oci_push`, `oci_load` and `oci_image_index` take
rules_oci's attribute names; what rules_pyoci cannot honour fails at loading with the attribute
named (docs/migration.md lists what maps to what).
"""

load(":load.bzl", _oci_load = "oci_load")
load(":providers.bzl", "OciImageInfo", "image_checks", "pyoci_binary")
load(":push.bzl", _oci_push = "oci_push")

def _only_list(rule_name, name, attribute, value):
    if value != None and type(value) != "list":
        fail(("{} {}: attribute {} = {!r}: rules_pyoci's compatibility layer takes a list of " +
              "strings here, not a file label (docs/migration.md)").format(rule_name, name, attribute, value))

def oci_push(name, image, repository = None, repository_file = None, remote_tags = None, format = None, **kwargs):
    """rules_oci's oci_push: `bazel run` pushes `image` to `repository`, then tags `remote_tags`.

    `format = "docker"` (the seed document's spelling, not a rules_oci attribute) loads the
    image into the local engine as `repository:latest` instead.

    Args:
      name: target name.
      image: a py_image (or anything providing OciImageInfo).
      repository: `REGISTRY/PATH`.
      repository_file: not supported: give `repository`.
      remote_tags: a list of tags (a file of tags is not supported).
      format: `"docker"` loads locally instead of pushing.
      **kwargs: visibility, tags, stamp, insecure.
    """
    if repository_file != None:
        fail("oci_push {}: attribute repository_file is not supported by rules_pyoci's rules_oci compatibility; give `repository`".format(name))
    if repository == None:
        fail("oci_push {}: attribute repository is mandatory".format(name))
    _only_list("oci_push", name, "remote_tags", remote_tags)
    _oci_push(name = name, image = image, repository = repository, remote_tags = remote_tags, format = format, **kwargs)

def oci_load(name, image, repo_tags = None, format = "docker", loader = None, **kwargs):
    """rules_oci's oci_load: `bazel run` loads `image` into Docker or podman under `repo_tags`.

    Args:
      name: target name.
      image: a py_image (or anything providing OciImageInfo).
      repo_tags: a list of `repository:tag` (a file of tags is not supported).
      format: `docker` or `oci`.
      loader: not supported as a label: rules_pyoci's oci_load takes a command name; pass
        `--loader CMD` at run time or use rules_pyoci's oci_load.
      **kwargs: visibility, tags, testonly.
    """
    _only_list("oci_load", name, "repo_tags", repo_tags)
    if loader != None:
        fail(("oci_load {}: attribute loader: rules_oci takes a tool label, rules_pyoci a command " +
              "name; load @rules_pyoci//rules:defs.bzl's oci_load for `loader = \"podman\"`, or " +
              "`bazel run :{} -- --loader CMD`").format(name, name))
    _oci_load(name = name, image = image, repo_tags = repo_tags or [], format = format, **kwargs)

def _oci_image_index_impl(ctx):
    pyoci = pyoci_binary(ctx)
    images = [image[OciImageInfo] for image in ctx.attr.images]
    layout = ctx.actions.declare_directory(ctx.label.name)
    digest = ctx.actions.declare_file(ctx.label.name + ".digest")
    args = ctx.actions.args()
    args.add("index")
    for image in images:
        args.add("--image", image.layout.path)
    args.add("-o", layout.path)
    args.add("--digest-out", digest)
    args.add("--quiet")
    ctx.actions.run(
        executable = pyoci,
        arguments = [args],
        inputs = [image.layout for image in images],
        outputs = [layout, digest],
        mnemonic = "PyociIndex",
        progress_message = "Assembling OCI image index {}".format(ctx.label),
    )
    checks = depset(transitive = [image_checks(image) for image in images])
    return [
        DefaultInfo(files = depset([layout]), runfiles = ctx.runfiles(files = [layout, digest])),
        OutputGroupInfo(digest = depset([digest])),
        OciImageInfo(
            layout = layout,
            digest = digest,
            user = images[0].user,
            debug = any([image.debug for image in images]),
            checks = checks,
        ),
    ]

oci_image_index = rule(
    implementation = _oci_image_index_impl,
    doc = "rules_oci's oci_image_index: a multi-platform index of `images` (each built for one " +
          "platform, e.g. with `pyoci image --platform`); two images of one platform fail.",
    attrs = {
        "images": attr.label_list(
            doc = "The images, one per platform.",
            mandatory = True,
            allow_empty = False,
            providers = [OciImageInfo],
        ),
    },
    toolchains = ["@rules_pyoci//rules:toolchain_type"],
)

_DEFS = '''\
"""rules_oci's public API, backed by rules_pyoci (generated by rules_oci_compat)."""

load("{compat}", _oci_image_index = "oci_image_index", _oci_load = "oci_load", _oci_push = "oci_push")

oci_push = _oci_push
oci_load = _oci_load
oci_image_index = _oci_image_index
'''

def _rules_oci_compat_repository_impl(rctx):
    rctx.file("WORKSPACE", 'workspace(name = "rules_oci")\n')
    rctx.file("BUILD.bazel", "")
    rctx.file("oci/BUILD.bazel", 'exports_files(["defs.bzl"])\n')
    rctx.file("oci/defs.bzl", _DEFS.format(compat = str(Label("//rules/private:rules_oci_compat.bzl"))))

rules_oci_compat_repository = repository_rule(
    implementation = _rules_oci_compat_repository_impl,
    doc = "A repository (name it rules_oci) whose `//oci:defs.bzl` gives oci_push, oci_load and " +
          "oci_image_index with rules_oci's attribute names, backed by rules_pyoci.",
)
