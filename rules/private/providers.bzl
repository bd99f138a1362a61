"""Providers shared by every rules_pyoci rule, and the one way actions reach the pyoci binary."""

OciImageInfo = provider(
    doc = "An OCI image built or imported by rules_pyoci.",
    fields = {
        "layout": "File (directory): the OCI image layout (oci-layout, index.json, blobs/sha256), " +
                  "complete. For a py_image an action writes it only when something asks for it " +
                  "(scans, structure tests, the `layout` output group): it links every base blob, " +
                  "which Bazel then digests.",
        "own_layout": "File (directory) or None: the layout the image action wrote, holding the " +
                      "index, manifest and config but no layer (`pyoci image --omit-base-blobs " +
                      "--omit-layer-blobs`); the layers are in `blob_layouts`. What the per-edit " +
                      "path reads, so that Bazel has no layer to re-digest.",
        "blob_layouts": "depset of Files (directories) or None: layouts holding the blobs " +
                        "`own_layout` leaves out (`pyoci ... --blobs-from`): one per own layer " +
                        "(`pyoci layout --blob`, re-written only when that layer changes) and the base's.",
        "digest": "File: the manifest digest, `sha256:<hex>` with no newline.",
        "user": "string: the config's User, as the image runs (\"\" means root).",
        "debug": "bool: the image carries a shell for debugging (a debug base).",
        "verified": "File or None: the layout's verification record (`pyoci ... --verified-out`), " +
                    "written by the action that wrote or pulled the layout after hashing every " +
                    "blob. Images built on it check the base's blob sizes instead of re-hashing " +
                    "them; without it the base is hashed on every build.",
        "layer_findings": "depset of Files or None: `pyoci check-layer` records of the image's " +
                          "layers (written once per layer by an action keyed by that layer), which " +
                          "`pyoci check` of an image built on this one combines instead of reading " +
                          "the layers. Without it, py_image records the base's layers itself.",
        "checks": "depset of Files: stamps of the image's passed security gates. Targets that " +
                  "ship an image (load, push) depend on them, so a failing gate stops them too.",
    },
)

def image_checks(info):
    """The gate stamps of an OciImageInfo (empty for bases and pulled images)."""
    return getattr(info, "checks", None) or depset()

def image_layer_findings(info):
    """The layer findings records of an OciImageInfo (a depset), or None when it has none."""
    return getattr(info, "layer_findings", None)

def image_layout_parts(info):
    """What to read an OciImageInfo with: a struct of `layout` (File) and `blob_layouts` (depset
    of layout directories holding the blobs it leaves out). A py_image's own layout and where its
    layers are; otherwise one complete layout and nothing else."""
    own = getattr(info, "own_layout", None)
    if own:
        return struct(layout = own, blob_layouts = info.blob_layouts)
    return struct(layout = info.layout, blob_layouts = depset())

def add_blob_sources(args, parts):
    """Adds `--blobs-from DIR` for each layout holding blobs `parts.layout` leaves out."""
    args.add_all(parts.blob_layouts, before_each = "--blobs-from", expand_directories = False)

def blob_source_short_paths(parts):
    """The runfiles paths of `parts.blob_layouts`, each for a `--blobs-from` in a `bazel run` script."""
    return [d.short_path for d in parts.blob_layouts.to_list()]

def image_layout_inputs(parts):
    """`parts.layout` and everything `add_blob_sources` names (a depset)."""
    return depset([parts.layout], transitive = [parts.blob_layouts])

def image_verified(info):
    """The verification record File of an OciImageInfo, or None."""
    return getattr(info, "verified", None)

PYOCI_TOOLCHAIN_TYPE = "@rules_pyoci//rules:toolchain_type"

def pyoci_binary(ctx):
    """The pyoci executable (a File) from the registered toolchain."""
    return ctx.toolchains[PYOCI_TOOLCHAIN_TYPE].pyoci

