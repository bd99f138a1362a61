"""The pyoci toolchain rule: hands one pyoci executable to every rules_pyoci action."""

def _pyoci_toolchain_impl(ctx):
    pyoci = ctx.executable.pyoci
    return [
        platform_common.ToolchainInfo(pyoci = pyoci),
        DefaultInfo(files = depset([pyoci])),
    ]

pyoci_toolchain = rule(
    implementation = _pyoci_toolchain_impl,
    doc = "Declares a pyoci executable for `toolchain(toolchain_type = \"@rules_pyoci//rules:toolchain_type\")`.",
    attrs = {
        "pyoci": attr.label(
            doc = "The pyoci executable (built by `pyoci_toolchain_repository` or supplied by the user).",
            mandatory = True,
            executable = True,
            allow_single_file = True,
            cfg = "exec",
        ),
    },
)
