"""Per-layer gate findings: `pyoci check-layer`, one action per layer (or per base layout).

Each action is keyed by its layer's bytes only, so after an edit Bazel re-runs it only for
the layers that changed; `pyoci check --layer-findings` then combines the records with the
image config without reading any layer (see crates/check/src/layer_findings.rs).
"""

def layer_findings_action(ctx, pyoci, name, what, blob = None, layout = None):
    """Declares `<name>` and an action recording the findings of `blob` or of every layer of `layout`.

    Args:
      ctx: the rule context.
      pyoci: the pyoci executable.
      name: the output file's name (relative to the package).
      what: words for the progress message ("the app layer of //x:y").
      blob: a layer blob File, or None.
      layout: an OCI layout directory File, or None.
    Returns:
      The findings File.
    """
    out = ctx.actions.declare_file(name)
    args = ctx.actions.args()
    args.add("check-layer")
    if layout:
        args.add(layout.path)
    if blob:
        args.add("--blob", blob)
    args.add("-o", out)
    args.add("--quiet")
    ctx.actions.run(
        executable = pyoci,
        arguments = [args],
        inputs = [f for f in [blob, layout] if f],
        outputs = [out],
        mnemonic = "PyociCheckLayer",
        progress_message = "Recording the gate findings of {}".format(what),
    )
    return out
