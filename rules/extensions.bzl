"""bzlmod set-up for rules_pyoci (Bazel 6+). In MODULE.bazel:

    bazel_dep(name = "rules_pyoci", version = "0.1.0")

    distroless = use_extension("@rules_pyoci//rules:extensions.bzl", "distroless")
    distroless.debs(mirrors = ["https://deb.debian.org/debian"])
    use_repo(distroless, "distroless_python_nonroot", "distroless_python_debug")

    pip = use_extension("@rules_pyoci//rules:extensions.bzl", "pip")
    pip.install(name = "pip", requirements_lock = "//:requirements_lock.txt")
    use_repo(pip, "pip")

    oci = use_extension("@rules_pyoci//rules:extensions.bzl", "oci")
    oci.pull(name = "python3", image = "gcr.io/distroless/python3-debian12", digest = "sha256:...")
    use_repo(oci, "python3")

    # Optional: @rules_oci//oci:defs.bzl backed by rules_pyoci, for BUILD files written for rules_oci.
    rules_oci_compat = use_extension("@rules_pyoci//rules:extensions.bzl", "rules_oci_compat")
    use_repo(rules_oci_compat, "rules_oci")

The pyoci toolchain is registered by rules_pyoci's own MODULE.bazel; a root module may name a
prebuilt binary with `pyoci.toolchain(pyoci = "//tools:pyoci")`.
"""

load("//rules/private:bytecode.bzl", "python_compiler_repository")
load("//rules/private:distroless.bzl", "BASE_REPOSITORIES", "distroless_base_repository", "distroless_debs_repository")
load("//rules/private:pip.bzl", "pip_lock_repository")
load("//rules/private:pull.bzl", "OCI_PULL_TAG_ATTRS", "oci_pull_from_tag")
load("//rules/private:rules_oci_compat.bzl", "rules_oci_compat_repository")
load("//rules/private:toolchain_repo.bzl", "pyoci_toolchain_repository")

_TOOLCHAIN_REPOSITORY = "rules_pyoci_toolchain"
_DEBS_REPOSITORY = "rules_pyoci_bookworm_debs"

def _pyoci_impl(module_ctx):
    pyoci = None

    # The root module comes first; its choice wins.
    for module in module_ctx.modules:
        for tag in module.tags.toolchain:
            if pyoci == None and tag.pyoci:
                pyoci = tag.pyoci
    pyoci_toolchain_repository(name = _TOOLCHAIN_REPOSITORY, pyoci = pyoci)
    python_compiler_repository(name = "rules_pyoci_python311")

pyoci = module_extension(
    implementation = _pyoci_impl,
    doc = "The pyoci toolchain repository (@rules_pyoci_toolchain) and the bytecode compiler (@rules_pyoci_python311).",
    tag_classes = {
        "toolchain": tag_class(
            doc = "Use a prebuilt pyoci instead of building it from source with cargo.",
            attrs = {"pyoci": attr.label(doc = "A prebuilt pyoci executable.", allow_single_file = True)},
        ),
    },
)

_DEBS_ATTRS = {
    "debs_dir": attr.string(doc = "Directory of .deb files (absolute or relative to the workspace root); $PYOCI_DEBS_DIR overrides it."),
    "mirrors": attr.string_list(doc = "Debian mirror roots to download missing .deb files from."),
    "lock": attr.label(
        doc = "The package lock.",
        default = Label("//rules/private/distroless:bookworm_amd64.lock.json"),
        allow_single_file = [".json"],
    ),
    "compression": attr.string(doc = "gzip or zstd for the base layers.", default = "gzip", values = ["gzip", "zstd"]),
    "bytecode": attr.bool(doc = "Compile the bases' standard library bytecode at build time (False: hosts with glibc < 2.36).", default = True),
}

def _distroless_impl(module_ctx):
    chosen = None
    for module in module_ctx.modules:
        for tag in module.tags.debs:
            if chosen == None:
                chosen = tag
    distroless_debs_repository(
        name = _DEBS_REPOSITORY,
        lock = chosen.lock if chosen else Label("//rules/private/distroless:bookworm_amd64.lock.json"),
        debs_dir = chosen.debs_dir if chosen else "",
        mirrors = chosen.mirrors if chosen else [],
    )
    for name, variant in BASE_REPOSITORIES.items():
        distroless_base_repository(
            name = name,
            target_name = name,
            debs_repository = _DEBS_REPOSITORY,
            variant = variant,
            compression = chosen.compression if chosen else "gzip",
            bytecode = chosen.bytecode if chosen else True,
        )

distroless = module_extension(
    implementation = _distroless_impl,
    doc = "@distroless_python_base, _nonroot, _debug and _debug_nonroot, built from pinned .deb files.",
    tag_classes = {"debs": tag_class(doc = "Where the pinned .deb files come from (root module's tag wins).", attrs = _DEBS_ATTRS)},
)

def _pip_impl(module_ctx):
    for module in module_ctx.modules:
        for tag in module.tags.install:
            pip_lock_repository(
                name = tag.name,
                requirements_lock = tag.requirements_lock,
                python_interpreter = tag.python_interpreter,
                base_lock = tag.base_lock,
                platforms = tag.platforms,
                python_version = tag.python_version,
                extra_pip_args = tag.extra_pip_args,
            )

pip = module_extension(
    implementation = _pip_impl,
    doc = "pip hubs (`@pip//<name>:pkg`) from pinned, hashed requirements locks.",
    tag_classes = {
        "install": tag_class(
            doc = "One hub repository per tag.",
            attrs = {
                "name": attr.string(doc = "Repository name, e.g. pip.", mandatory = True),
                "requirements_lock": attr.label(doc = "Hashed requirements lock.", mandatory = True),
                "python_interpreter": attr.string(doc = "Interpreter running pip at fetch time.", default = "python3"),
                "base_lock": attr.label(
                    doc = "The base's Debian lock; its glibc and architecture pick the wheel platforms.",
                    default = Label("//rules/private/distroless:bookworm_amd64.lock.json"),
                    allow_single_file = [".json"],
                ),
                "platforms": attr.string_list(doc = "pip --platform tags instead of those derived from base_lock."),
                "python_version": attr.string(doc = "pip --python-version of the image.", default = "3.11"),
                "extra_pip_args": attr.string_list(doc = "More pip install arguments."),
            },
        ),
    },
)

def _oci_impl(module_ctx):
    for module in module_ctx.modules:
        for tag in module.tags.pull:
            oci_pull_from_tag(tag)

oci = module_extension(
    implementation = _oci_impl,
    doc = "Base images pulled from registries by digest (one repository per `pull` tag).",
    tag_classes = {"pull": tag_class(doc = "One image to pull; see oci_pull.", attrs = OCI_PULL_TAG_ATTRS)},
)

def _rules_oci_compat_impl(_module_ctx):
    rules_oci_compat_repository(name = "rules_oci")

rules_oci_compat = module_extension(
    implementation = _rules_oci_compat_impl,
    doc = "@rules_oci whose //oci:defs.bzl (oci_push, oci_load, oci_image_index) is backed by rules_pyoci.",
)
