"""py_service_image: py_image plus what a long-running service needs.

On top of py_image's layers it adds one `service` layer holding

    <config_dir>/<path of each `config` file relative to its package>    0644, root
    <runfiles>/<main repo>/<package>/<file>  -> symlink to the file above
    each of `writable_dirs`                                               0755, owned by the image user

so the binary opens its configuration by the same relative path as under `bazel run`, while an
operator can mount other configuration over `config_dir`, and a service on the nonroot base has
scratch space it owns. Config files never land in the application layer: editing one rebuilds only
the small service layer.
"""

load(":providers.bzl", "OciImageInfo")
load(":py_image.bzl", "IMAGE_ATTRS", "image_runfiles_root", "image_toolchains", "py_image_impl", "runfiles_path")
load(":stamp.bzl", "should_stamp")

_NONROOT_ID = 65532

def _normalize_absolute(ctx, attribute, path):
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if not path.startswith("/") or ".." in parts or not parts:
        fail("py_service_image {}: attribute `{}`: {} must be an absolute path below / without `..`".format(
            ctx.label,
            attribute,
            repr(path),
        ))
    return "/" + "/".join(parts)

def _owner(ctx):
    """uid and gid owning the writable dirs: the image's numeric non-root user, else 65532."""
    user = ctx.attr.user or ctx.attr.base[OciImageInfo].user
    uid, _, gid = user.partition(":")
    if uid.isdigit() and int(uid) != 0:
        return int(uid), int(gid) if gid.isdigit() else int(uid)
    return _NONROOT_ID, _NONROOT_ID

def _path_in_package(f):
    """A file's path relative to the package that owns it (its basename for most files)."""
    short = f.short_path
    if short.startswith("../"):
        short = short[3:].partition("/")[2]
    package = f.owner.package if f.owner else ""
    if package and short.startswith(package + "/"):
        return short[len(package) + 1:]
    return f.basename

def _stamp_keys(template):
    keys = []
    for piece in template.split("{")[1:]:
        if "}" in piece:
            key = piece.partition("}")[0]
            if key and key not in keys:
                keys.append(key)
    return keys

def _py_service_image_impl(ctx):
    binary_label = ctx.attr.binary.label
    config_dir = _normalize_absolute(ctx, "config_dir", ctx.attr.config_dir or "/etc/" + binary_label.name)
    runfiles_root = image_runfiles_root(binary_label)

    entries = {}
    replaced = {}
    by_destination = {}
    for f in ctx.files.config:
        destination = config_dir + "/" + _path_in_package(f)
        if destination in by_destination:
            fail("py_service_image {}: attribute `config`: {} and {} both land at {}".format(
                ctx.label,
                by_destination[destination].short_path,
                f.short_path,
                destination,
            ))
        by_destination[destination] = f
        entries[destination] = {"path": destination, "source": f.path, "mode": "0644"}

        # Where the runfiles would hold the file: a symlink, replacing the copy a `data`
        # entry would otherwise put into the application layer.
        in_runfiles = runfiles_root + "/" + runfiles_path(f.short_path, ctx.workspace_name)
        entries[in_runfiles] = {"path": in_runfiles, "type": "symlink", "target": destination}
        replaced[in_runfiles] = True

    uid, gid = _owner(ctx)
    for directory in ctx.attr.writable_dirs:
        path = _normalize_absolute(ctx, "writable_dirs", directory)
        if path in entries:
            fail("py_service_image {}: attribute `writable_dirs`: {} is also a config file".format(ctx.label, path))
        entries[path] = {"path": path, "type": "dir", "mode": "0755", "uid": uid, "gid": gid}

    labels = {}
    stamp_defaults = None
    if should_stamp(ctx) and ctx.attr.stamp_labels:
        labels = dict(ctx.attr.stamp_labels)

        # Read before Bazel's status files: a key the workspace status does not print becomes
        # an empty value instead of a literal `{KEY}` in the image.
        keys = []
        for template in labels.values():
            keys.extend([k for k in _stamp_keys(template) if k not in keys])
        stamp_defaults = ctx.actions.declare_file(ctx.label.name + ".stamp-defaults.txt")
        ctx.actions.write(stamp_defaults, "".join([key + " \n" for key in sorted(keys)]))

    return py_image_impl(ctx, service = struct(
        cmd = ctx.attr.args,
        labels = labels,
        entries = entries,
        inputs = ctx.files.config,
        replaced = replaced,
        stamp_defaults = stamp_defaults,
    ))

SERVICE_ATTRS = dict(IMAGE_ATTRS, **{
    "args": attr.string_list(
        doc = "Arguments passed to the service after its main file (the config's `Cmd`, after " +
              "the entrypoint), e.g. `[\"--port\", \"8080\"]`; `docker run IMAGE ARGS` replaces them.",
    ),
    "config": attr.label_list(
        doc = "Configuration files, placed read-only (0644, owned by root) under `config_dir` at " +
              "their path relative to their package (`config.yaml` -> `/etc/<binary name>/config.yaml`). " +
              "Where the binary's runfiles would hold each file, a symlink points to that copy, so " +
              "the service opens it by the same relative path as under `bazel run` (list it in " +
              "the binary's `data` too for that) and a file mounted over `config_dir` replaces it. " +
              "They go into their own layer above the application's.",
        allow_files = True,
    ),
    "config_dir": attr.string(
        doc = "Absolute directory holding the `config` files in the image. Default: " +
              "`/etc/<binary name>`.",
    ),
    "writable_dirs": attr.string_list(
        doc = "Absolute directories created empty (0755) and owned by the image user, e.g. " +
              "`[\"/var/lib/my_service\"]`: scratch space on the nonroot base, where the user owns " +
              "nothing outside /tmp and its home. Owner: the numeric `user` (or the base's), " +
              "65532:65532 for a named or root user. Add them to `volumes` too when their data " +
              "must outlive the container.",
    ),
    "stamp_labels": attr.string_dict(
        doc = "Labels added only to stamped builds (`--stamp` or `stamp = 1`), each a template " +
              "whose `{KEY}`s are workspace status keys; a key the workspace status does not " +
              "print gives an empty value. `labels` override these. The default fills the OCI " +
              "labels version, revision, source and created from `STABLE_VERSION`, " +
              "`STABLE_GIT_COMMIT`, `STABLE_GIT_URL` and `BUILD_TIMESTAMP_RFC3339` (see " +
              "examples/service/workspace_status.sh); unstamped builds stay reproducible.",
        default = {
            "org.opencontainers.image.created": "{BUILD_TIMESTAMP_RFC3339}",
            "org.opencontainers.image.revision": "{STABLE_GIT_COMMIT}",
            "org.opencontainers.image.source": "{STABLE_GIT_URL}",
            "org.opencontainers.image.version": "{STABLE_VERSION}",
        },
    ),
})

py_service_image_rule = rule(
    implementation = _py_service_image_impl,
    doc = "py_image_rule plus a service layer (config files, writable dirs), `args` and stamped " +
          "OCI labels; the same outputs, output groups and security gates.",
    attrs = SERVICE_ATTRS,
    toolchains = image_toolchains(),
)
