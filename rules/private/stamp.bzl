"""Whether an action should stamp: the `stamp` attribute convention of Bazel's own rules.

`stamp = 1` always stamps, `0` never, `-1` follows `--stamp`. Bazel 4 has no API that tells a
rule whether `--stamp` is set, so a config_setting reads the flag and this rule hands it on.
"""

StampSettingInfo = provider(
    doc = "Whether --stamp is set for this build.",
    fields = {"value": "bool: --stamp is set."},
)

def _stamp_setting_impl(ctx):
    return [StampSettingInfo(value = ctx.attr.value)]

stamp_setting = rule(
    implementation = _stamp_setting_impl,
    doc = "Exposes the value of --stamp (computed with a select) to rules as StampSettingInfo.",
    attrs = {"value": attr.bool(doc = "Whether --stamp is set.", mandatory = True)},
)

STAMP_ATTRS = {
    "stamp": attr.int(
        doc = "Stamping: `1` substitutes `{KEY}` placeholders in labels and annotations from the " +
              "workspace status (e.g. `{STABLE_GIT_COMMIT}`) and takes `created` from " +
              "BUILD_TIMESTAMP; `0` never does (reproducible, the default for unstamped builds); " +
              "`-1` follows the `--stamp` flag.",
        default = -1,
        values = [-1, 0, 1],
    ),
    "_stamp_setting": attr.label(
        default = Label("//rules/private:stamp_setting"),
        providers = [StampSettingInfo],
    ),
}

def should_stamp(ctx):
    """True when this target's actions should read the workspace status files."""
    if ctx.attr.stamp == 1:
        return True
    if ctx.attr.stamp == 0:
        return False
    return ctx.attr._stamp_setting[StampSettingInfo].value
