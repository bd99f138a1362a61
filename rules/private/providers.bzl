"""Providers shared by every rules_pyoci rule, and the one way actions reach the pyoci binary."""

OciImageInfo = provider(
    doc = "An OCI image built or imported by rules_pyoci.",
    fields = {
        "layout": "File (directory): the OCI image layout (oci-layout, index.json, blobs/sha256).",
        "digest": "File: the manifest digest, `sha256:<hex>` with no newline.",
        "user": "string: the config's User, as the image runs (\"\" means root).",
        "debug": "bool: the image carries a shell for debugging (a debug base).",
    },
)

PYOCI_TOOLCHAIN_TYPE = "@rules_pyoci//rules:toolchain_type"

def pyoci_binary(ctx):
    """The pyoci executable (a File) from the registered toolchain."""
    return ctx.toolchains[PYOCI_TOOLCHAIN_TYPE].pyoci
