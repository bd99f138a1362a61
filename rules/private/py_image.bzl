"""py_image: a py_binary's runfiles as layers on a distroless Python base, started without a shell.

Layout inside the image, mirroring `bazel run`:

    /app/<package>/<binary>.runfiles/            runfiles root (RUNFILES_DIR)
    /app/<package>/<binary>.runfiles/<main repo>/ working directory; `data` paths resolve here
    /app/<package>/<binary>.runfiles/<repo>/     every other repository (e.g. pip packages)

Layers, from the one that changes least to the one that changes most: a hermetic interpreter
(only if the Python toolchain ships one in the runfiles), third-party repositories, extra `tars`,
then the application's own code and data. Each is its own action, so editing one .py file
re-runs only the application layer and the image assembly.

The entrypoint runs the interpreter on the binary's main file directly, with the PYTHONPATH
Bazel's launcher would compute: distroless has no /bin/sh and no /usr/bin/env for the launcher.

Every image is checked by `pyoci check` (non-root user, no shell or package manager, no
secrets, sane permissions of the application layers, optional size limit). The check's stamp is
in the `_validation` output group (Bazel 5+ runs validations by default) and also among the
default outputs, because Bazel 4.2 runs validation actions only with
--experimental_run_validations: `bazel build` of an image fails when a gate fails, and the
`tarball` output group waits for the gates. OciImageInfo.checks carries the stamp, so oci_load
and oci_push cannot ship an image whose gates failed either.

The gates read layer bytes once per layer: a `pyoci check-layer` action per layer this rule
writes (and per `tars` file), keyed by that layer alone, records its findings; the base's come
with it (OciImageInfo.layer_findings, recorded by the base's own action). `pyoci check` combines
the records with the config in layer order, applying the opt-outs, and reads no layer. An edit
re-records only the changed layer, whatever the size of the base and third-party layers.
"""

load(":bytecode.bzl", "PYTHON_COMPILER_ATTRS", "python_compiler")
load(":load.bzl", "default_repo_tag")
load(":layer_findings.bzl", "layer_findings_action")
load(":providers.bzl", "OciImageInfo", "add_blob_sources", "image_layer_findings", "image_layout_inputs", "image_layout_parts", "image_verified", "pyoci_binary")
load(":stamp.bzl", "STAMP_ATTRS", "should_stamp")

_PYOCI_TOOLCHAIN = "@rules_pyoci//rules:toolchain_type"
_PY_TOOLCHAIN = "@bazel_tools//tools/python:toolchain_type"
_SYSTEM_PYTHON = "/usr/bin/python3"
_APP_ROOT = "/app"

PyBinaryFactsInfo = provider(
    doc = "What py_image needs to know about a py_binary that Bazel's providers do not say.",
    fields = {
        "kind": "string: the rule kind of the target (py_image accepts only py_binary).",
        "main": "File or None: the main source file Bazel's launcher runs.",
        "imports": "depset of strings: `imports` entries, as paths relative to the runfiles root.",
    },
)

def _normalize(path):
    parts = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/".join(parts)

def _find_main(ctx):
    main_attr = getattr(ctx.rule.attr, "main", None)
    if main_attr:
        files = main_attr.files.to_list()
        return files[0] if files else None
    wanted = ctx.rule.attr.name + ".py"
    for src in getattr(ctx.rule.attr, "srcs", []):
        for f in src.files.to_list():
            if f.basename == wanted:
                return f
    return None

def _py_binary_facts_aspect_impl(target, ctx):
    repo = target.label.workspace_name or ctx.workspace_name
    imports = [
        _normalize("/".join([repo, target.label.package, entry]))
        for entry in getattr(ctx.rule.attr, "imports", None) or []
    ]
    transitive = [
        dep[PyBinaryFactsInfo].imports
        for dep in getattr(ctx.rule.attr, "deps", None) or []
        if PyBinaryFactsInfo in dep
    ]
    return [PyBinaryFactsInfo(
        kind = ctx.rule.kind,
        main = _find_main(ctx) if ctx.rule.kind == "py_binary" else None,
        imports = depset(imports, transitive = transitive),
    )]

py_binary_facts_aspect = aspect(
    implementation = _py_binary_facts_aspect_impl,
    attr_aspects = ["deps"],
    doc = "Collects a py_binary's kind, main file and transitive `imports`.",
)

def runfiles_path(short_path, workspace_name):
    """A File's path relative to the runfiles root (external repositories sit beside the main one)."""
    if short_path.startswith("../"):
        return short_path[3:]
    return workspace_name + "/" + short_path

def _python_runtime(ctx):
    toolchain = ctx.toolchains[_PY_TOOLCHAIN] if _PY_TOOLCHAIN in ctx.toolchains else None
    runtime = getattr(toolchain, "py3_runtime", None) if toolchain else None
    if runtime == None:
        return None, []
    runtime_files = ([runtime.interpreter] if runtime.interpreter else []) + runtime.files.to_list()

    # The autodetecting toolchains "ship" a shell wrapper around the host's python; that is
    # neither usable in a distroless image nor hermetic.
    if runtime.interpreter == None or runtime.interpreter.basename.endswith(".sh"):
        return None, runtime_files
    return runtime.interpreter, runtime_files

def _rule_kind(ctx):
    """The public name of the rule being analysed, for error messages."""
    return "py_service_image" if hasattr(ctx.attr, "writable_dirs") else "py_image"

def _binary_facts(ctx):
    binary = ctx.attr.binary
    facts = binary[PyBinaryFactsInfo] if PyBinaryFactsInfo in binary else None
    if facts == None or facts.kind != "py_binary":
        fail("{} {}: attribute `binary` must be a py_binary, but {} is {}".format(
            _rule_kind(ctx),
            ctx.label,
            binary.label,
            "a " + facts.kind + " rule" if facts else "not a rule",
        ))
    if facts.main == None:
        fail("{} {}: attribute `binary`: cannot find the main file of {} (set its `main`)".format(
            _rule_kind(ctx),
            ctx.label,
            binary.label,
        ))
    return facts

def _runfiles_entries(ctx, excluded_paths):
    """Every runfile of the binary as (path relative to the runfiles root, spec entry, source File or None)."""
    workspace = ctx.workspace_name
    runfiles = ctx.attr.binary[DefaultInfo].default_runfiles
    entries = []
    for f in runfiles.files.to_list():
        if f.path not in excluded_paths:
            entries.append((runfiles_path(f.short_path, workspace), {"source": f.path}, f))
    for link in runfiles.symlinks.to_list():
        entries.append((workspace + "/" + link.path, {"source": link.target_file.path}, link.target_file))
    for link in runfiles.root_symlinks.to_list():
        entries.append((link.path, {"source": link.target_file.path}, link.target_file))
    for empty in runfiles.empty_filenames.to_list():
        # Other repositories' files: `external/<repo>/...` with legacy external runfiles,
        # `../<repo>/...` without (Bazel 8's default).
        if empty.startswith("external/"):
            relative = empty[len("external/"):]
        elif empty.startswith("../"):
            relative = empty[len("../"):]
        else:
            relative = workspace + "/" + empty
        if "/" in relative:
            # (Bazel's legacy external/__init__.py would land at the runfiles root: no package lives there.)
            entries.append((relative, {"type": "file", "content": ""}, None))
    return entries

# Every file's mode in the layers py_image writes is stated here, never taken from the input's
# mode: a remote-execution worker may present every input as executable and Bazel's outputs
# (generated sources, .pyc trees) are 0555, so an inherited mode would depend on where and how
# the action ran. Regular files are 0644; the interpreter and `executable_files` 0755;
# directories 0755 (the layer's default).
_FILE_MODE = "0644"
_EXECUTABLE_MODE = "0755"

def _executable_paths(ctx, interpreter):
    """{execroot path: True} of the runfiles that keep an executable mode; fails on a listed file that is no runfile."""
    executables = {f.path: True for f in ctx.files.executable_files}
    runfiles = ctx.attr.binary[DefaultInfo].default_runfiles
    present = {f.path: True for f in runfiles.files.to_list()}
    for link in runfiles.symlinks.to_list() + runfiles.root_symlinks.to_list():
        present[link.target_file.path] = True
    missing = sorted([path for path in executables if path not in present])
    if missing:
        fail("{} {}: attribute `executable_files`: {} {} not among the runfiles of {} (add {} to its `data`)".format(
            _rule_kind(ctx),
            ctx.label,
            ", ".join(missing),
            "is" if len(missing) == 1 else "are",
            ctx.attr.binary.label,
            "it" if len(missing) == 1 else "them",
        ))
    if interpreter:
        executables[interpreter.path] = True
    return executables

def _layer_groups(ctx, runfiles_root, excluded_paths, interpreter_paths, replaced, executables):
    """Splits the binary's runfiles into {group: {image path: spec entry}}, their inputs and the repositories seen.

    Runfiles at an image path in `replaced` are left out (a layer above provides them). Each
    entry states its mode: 0755 if its source is in `executables`, else 0644.
    """
    app_repo = ctx.attr.binary.label.workspace_name or ctx.workspace_name
    groups = {"interpreter": {}, "third_party": {}, "app": {}}
    inputs = {"interpreter": [], "third_party": [], "app": []}
    repos = {}
    for relative, entry, source in _runfiles_entries(ctx, excluded_paths):
        repo = relative.split("/")[0]
        repos[repo] = True
        if source and source.path in interpreter_paths:
            group = "interpreter"
        elif repo == app_repo:
            group = "app"
        else:
            group = _THIRD_PARTY_UNIT + "/".join(relative.split("/")[:2])
        entry["path"] = runfiles_root + "/" + relative
        if source:
            entry["file_mode"] = _EXECUTABLE_MODE if source.path in executables else _FILE_MODE
        else:
            entry["mode"] = _FILE_MODE
        if entry["path"] in replaced:
            continue
        if group not in groups:
            groups[group] = {}
            inputs[group] = []
        groups[group][entry["path"]] = entry
        if source:
            inputs[group].append(source)
    return groups, inputs, sorted(repos.keys())

def _layer_history(ctx, group, entries):
    """What `docker history` says a layer is."""
    if group == "third_party" or group.startswith("third_party."):
        distributions = len([path for path in entries if path.endswith(".dist-info/METADATA")])
        return "third-party: {} distribution{}".format(distributions, "" if distributions == 1 else "s")
    if group == "app":
        return "application " + str(ctx.attr.binary.label)
    if group == "service":
        return "config"
    return group

def _bytecode_action(ctx, group, runfiles_root, entries, inputs):
    """Compiles a layer's .py files; returns the spec entry of the tree of .pyc files, or None."""
    sources = [
        [entry["source"], path]
        for path, entry in sorted(entries.items())
        if path.endswith(".py") and entry.get("source")
    ]
    if not sources:
        return None
    manifest = ctx.actions.declare_file(ctx.label.name + ".layers/" + group + ".pyc.txt")
    ctx.actions.write(manifest, "\n".join([runfiles_root] + ["\t".join(pair) for pair in sources]) + "\n")
    tree = ctx.actions.declare_directory(ctx.label.name + ".layers/" + group + ".pyc")
    compiler = python_compiler(ctx)
    ctx.actions.run(
        executable = compiler.executable,
        arguments = ["-s", "-S", "-B", ctx.file._compile_pyc.path, manifest.path, tree.path],
        inputs = depset([manifest, ctx.file._compile_pyc], transitive = [depset(inputs)]),
        tools = compiler.tools,
        outputs = [tree],
        env = compiler.env,
        mnemonic = "PyociBytecode",
        progress_message = "Compiling the {} bytecode of {}".format(group.replace("_", "-"), ctx.label),
    )
    # The sandbox may present a tree artifact's files as symlinks: store what they point to.
    return tree, {"path": runfiles_root, "source": tree.path + runfiles_root, "follow_symlinks": True, "file_mode": _FILE_MODE}

# Third-party layers. A distribution (`<repository>/<top directory>` of the runfiles, e.g.
# `pip/numpy`) with at least _LARGE_DISTRIBUTION_FILES files gets a layer of its own; at most
# _MAX_LARGE_LAYERS of them (the largest), the rest share one layer. Analysis cannot see file
# sizes, so the file count stands in for size. Large distributions (compiled, rarely bumped)
# sit below the shared layer of small ones, so bumping a small package re-sends only that
# layer and the application's, and the image stays far below the 127-layer limit.
_THIRD_PARTY_UNIT = "third_party/"
_LARGE_DISTRIBUTION_FILES = 300
_MAX_LARGE_LAYERS = 16

def _split_third_party(groups, inputs):
    """Merges the per-distribution groups into the third-party layers; returns their names, bottom first."""
    units = sorted([name for name in groups if name.startswith(_THIRD_PARTY_UNIT)])

    # Largest first; equal counts by name.
    by_size = [name for _, name in sorted([(-len(groups[name]), name) for name in units])]
    large = sorted([name for name in by_size[:_MAX_LARGE_LAYERS] if len(groups[name]) >= _LARGE_DISTRIBUTION_FILES])
    layers = []
    for name in large:
        layer = "third_party." + name[len(_THIRD_PARTY_UNIT):].replace("/", ".")
        groups[layer] = groups.pop(name)
        inputs[layer] = inputs.pop(name)
        layers.append(layer)
    shared, shared_inputs = {}, []
    for name in units:
        if name in large:
            continue
        shared.update(groups.pop(name))
        shared_inputs.extend(inputs.pop(name))
    if shared:
        groups["third_party"] = shared
        inputs["third_party"] = shared_inputs
        layers.append("third_party")
    return layers

def _layer_action(ctx, pyoci, group, entries, inputs):
    extension = ".tar.gz" if ctx.attr.compression == "gzip" else ".tar.zst"
    prefix = ctx.label.name + ".layers/" + group
    spec = ctx.actions.declare_file(prefix + ".spec.json")
    blob = ctx.actions.declare_file(prefix + extension)
    descriptor = ctx.actions.declare_file(prefix + ".descriptor.json")
    ctx.actions.write(spec, json.encode({"entries": [entries[path] for path in sorted(entries.keys())]}))
    args = ctx.actions.args()
    args.add("layer")
    args.add("--spec", spec)
    args.add("--compression", ctx.attr.compression)
    args.add("-o", blob)
    args.add("--descriptor-out", descriptor)
    args.add("--quiet")
    ctx.actions.run(
        executable = pyoci,
        arguments = [args],
        inputs = depset([spec], transitive = [depset(inputs)]),
        outputs = [blob, descriptor],
        mnemonic = "PyociLayer",
        progress_message = "Writing the {} layer of {}".format(group.replace("_", "-"), ctx.label),
    )
    return struct(group = group, blob = blob, descriptor = descriptor, history = _layer_history(ctx, group, entries))

def _dedupe(items):
    seen = {}
    result = []
    for item in items:
        if item not in seen:
            seen[item] = True
            result.append(item)
    return result

def _healthcheck(ctx, base):
    healthcheck = json.decode(ctx.attr.healthcheck)
    test = healthcheck.get("test") if type(healthcheck) == "dict" else None
    if type(test) != "list" or not test or test[0] not in ("CMD", "CMD-SHELL", "NONE"):
        fail("{} {}: attribute `healthcheck`: `test` must be a list starting with \"CMD\", \"CMD-SHELL\" or \"NONE\", got {}".format(
            _rule_kind(ctx),
            ctx.label,
            ctx.attr.healthcheck,
        ))
    if test[0] == "CMD-SHELL" and not base.debug:
        fail(("{} {}: attribute `healthcheck`: CMD-SHELL runs /bin/sh, which a distroless base does not have; " +
              "use the exec form, e.g. [\"CMD\", \"/usr/bin/python3\", \"-c\", \"...\"]").format(_rule_kind(ctx), ctx.label))
    return healthcheck

def _image_config(ctx, base, facts, runfiles_root, interpreter, repos, service):
    workspace = ctx.workspace_name
    main = runfiles_root + "/" + runfiles_path(facts.main.short_path, workspace)
    python = runfiles_root + "/" + runfiles_path(interpreter.short_path, workspace) if interpreter else _SYSTEM_PYTHON
    command = [python, main]
    cmd = service.cmd if service else ctx.attr.cmd

    # Bazel's launcher puts the runfiles root, then each `imports` entry, then every
    # repository directory on the path; the interpreter adds the main file's directory.
    python_path = _dedupe(
        [runfiles_root] +
        [runfiles_root + "/" + entry for entry in facts.imports.to_list()] +
        [runfiles_root + "/" + repo for repo in repos],
    )
    env = {
        "PYTHONPATH": ":".join(python_path),
        "RUNFILES_DIR": runfiles_root,
    }
    env.update(ctx.attr.env)
    labels = dict(service.labels) if service else {}
    labels.update(ctx.attr.labels)

    # (`pyoci image` currently requires the list and map keys even when empty.)
    config = {
        "env": env,
        "labels": labels,
        "annotations": ctx.attr.annotations,
        "workdir": ctx.attr.workdir or runfiles_root + "/" + workspace,
        "exposedPorts": [p if "/" in p else p + "/tcp" for p in ctx.attr.ports],
        "volumes": ctx.attr.volumes,
    }
    if ctx.attr.entrypoint:
        config["entrypoint"] = ctx.attr.entrypoint
        config["cmd"] = cmd
    elif base.debug:
        # Debug images keep `docker run IMAGE sh` working: no entrypoint, the program as the
        # default command.
        config["entrypoint"] = []
        config["cmd"] = command + cmd
    else:
        config["entrypoint"] = command
        config["cmd"] = cmd
    if ctx.attr.user:
        config["user"] = ctx.attr.user
    if ctx.attr.stop_signal:
        config["stopSignal"] = ctx.attr.stop_signal
    if ctx.attr.healthcheck:
        config["healthcheck"] = _healthcheck(ctx, base)
    return config

def _special_file_flags(ctx):
    """`tars` members and gate findings that need an explicit yes, for `pyoci image` and `pyoci check`."""
    return (["--allow-setuid"] if ctx.attr.allow_setuid else []) + (["--allow-devices"] if ctx.attr.allow_devices else [])

def _layer_findings(ctx, pyoci, base, own_layers, extra_tars):
    """The gate findings of every layer of the image: one `pyoci check-layer` action per layer.

    Each action is keyed by its layer alone, so an edit re-records only the changed layers. The
    base's records come with it (OciImageInfo.layer_findings, written once by the action that
    builds or copies the base); a base without them is recorded here, by an action keyed by the
    base layout alone. Returns a depset of record Files.
    """
    base_findings = image_layer_findings(base)
    if base_findings == None:
        base_findings = depset([layer_findings_action(ctx, pyoci, ctx.label.name + ".base.layer_findings.json", "the base of {}".format(ctx.label), layout = base.layout)])
    own = [
        layer_findings_action(ctx, pyoci, ctx.label.name + ".layers/" + layer.group + ".findings.json", "the {} layer of {}".format(layer.group.replace("_", "-"), ctx.label), blob = layer.blob)
        for layer in own_layers
    ]
    own.extend([
        layer_findings_action(ctx, pyoci, "{}.layers/tars.{}.findings.json".format(ctx.label.name, index), "{} in {}".format(tar.short_path, ctx.label), blob = tar)
        for index, tar in enumerate(extra_tars)
    ])
    return depset(own, transitive = [base_findings])

def _check_action(ctx, pyoci, base, layout, base_copy, findings):
    """`pyoci check` of the finished image: the security gates, and the size report beside them.

    It combines the per-layer `findings` with the config; no layer's bytes are read. The opt-outs
    apply here, so that a layer's record does not depend on them.
    """
    stamp = ctx.actions.declare_file(ctx.label.name + ".check.json")
    size_report = ctx.actions.declare_file(ctx.label.name + ".size.json")
    args = ctx.actions.args()
    args.add("check")
    args.add(layout.path)
    args.add("--blobs-from", base_copy.path)
    args.add_all(findings, before_each = "--layer-findings")

    # Only the layers this rule added are the application's: the base's files are its own
    # business (and a pulled base may well have a world-writable /tmp-like directory).
    args.add("--base", base_copy.path)
    if ctx.attr.allow_root:
        args.add("--allow-root")
    if ctx.attr.allow_shell or base.debug:
        args.add("--allow-shell")
    if ctx.attr.allow_secrets:
        args.add("--allow-secrets")
    for path in ctx.attr.allow_secrets_in:
        args.add("--allow-secret-in", path)
    if ctx.attr.allow_permissions:
        args.add("--allow-permissions")
    for flag in _special_file_flags(ctx):
        args.add(flag)
    if ctx.attr.max_size:
        args.add("--max-size", ctx.attr.max_size)
    args.add("--size-report", size_report)
    args.add("-o", stamp)
    ctx.actions.run(
        executable = pyoci,
        arguments = [args],
        inputs = depset([layout, base_copy], transitive = [findings]),
        outputs = [stamp, size_report],
        mnemonic = "PyociCheck",
        # Bazel prints this in the error line: it names the attributes, pyoci's findings name
        # the gates (as pyoci's own flags).
        progress_message = ("Checking {} against the security gates (opt-out attributes: allow_root, " +
                            "allow_shell, allow_secrets, allow_secrets_in, allow_permissions, max_size)").format(ctx.label),
    )
    return stamp, size_report

def _blob_layout_action(ctx, pyoci, layer):
    """A layer's blob as a layout of its own (`pyoci layout --blob`), where readers of `.own` find
    it. Keyed by that layer alone, so an edit re-writes only the app's; and a tree artifact,
    which Bazel 4.2's `bazel run` downloads after a remote build that left the layer file remote."""
    out = ctx.actions.declare_directory(ctx.label.name + ".layers/" + layer.group + ".blob")
    args = ctx.actions.args()
    args.add("layout")
    args.add("--blob", "{}={}".format(layer.blob.path, layer.descriptor.path))
    args.add("-o", out.path)
    ctx.actions.run(
        executable = pyoci,
        arguments = [args],
        inputs = [layer.blob, layer.descriptor],
        outputs = [out],
        mnemonic = "PyociLayerBlob",
        progress_message = "Linking the {} layer of {} into a blob layout".format(layer.group.replace("_", "-"), ctx.label),
    )
    return out

def _sbom_action(ctx, pyoci, parts, name):
    sbom = ctx.actions.declare_file(ctx.label.name + ".spdx.json")
    args = ctx.actions.args()
    args.add("sbom")
    args.add(parts.layout.path)
    add_blob_sources(args, parts)
    args.add("--name", name)
    args.add("-o", sbom)
    ctx.actions.run(
        executable = pyoci,
        arguments = [args],
        inputs = image_layout_inputs(parts),
        outputs = [sbom],
        mnemonic = "PyociSbom",
        progress_message = "Writing the SPDX SBOM of {}".format(ctx.label),
    )
    return sbom

def image_runfiles_root(binary_label):
    """Where a binary's runfiles tree sits in the image: `/app/<package>/<binary>.runfiles`."""
    return "/".join([p for p in [_APP_ROOT, binary_label.package, binary_label.name + ".runfiles"] if p])

def py_image_impl(ctx, service = None):
    """Builds the image; `service` (from py_service_image) adds a layer, args and labels.

    Args:
      ctx: the rule context (py_image_rule or py_service_image_rule).
      service: None, or a struct with `cmd` (list), `labels` (a dict under the user's
        `labels`), `entries` ({image path: layer spec entry}) and `inputs` (Files) of a layer
        above the application's, `replaced` ({image path: True}: runfiles that layer replaces,
        left out of the lower layers) and `stamp_defaults` (File or None: a status file read
        before Bazel's, so that stamped labels never keep a literal `{KEY}`).
    Returns:
      The providers of an image rule.
    """
    pyoci = pyoci_binary(ctx)
    base = ctx.attr.base[OciImageInfo]
    facts = _binary_facts(ctx)
    label = ctx.attr.binary.label
    runfiles_root = image_runfiles_root(label)

    interpreter, runtime_files = _python_runtime(ctx)
    excluded = {f.path: True for f in runtime_files} if interpreter == None else {}
    excluded[ctx.attr.binary[DefaultInfo].files_to_run.executable.path] = True
    interpreter_paths = {f.path: True for f in runtime_files} if interpreter else {}

    executables = _executable_paths(ctx, interpreter)
    groups, inputs, repos = _layer_groups(ctx, runfiles_root, excluded, interpreter_paths, service.replaced if service else {}, executables)
    third_party_layers = _split_third_party(groups, inputs)
    if ctx.attr.bytecode:
        for group in third_party_layers + ["app"]:
            compiled = _bytecode_action(ctx, group, runfiles_root, groups[group], inputs[group])
            if compiled:
                tree, entry = compiled
                groups[group][runfiles_root] = entry
                inputs[group].append(tree)
    layers = [
        _layer_action(ctx, pyoci, group, groups[group], inputs[group])
        for group in ["interpreter"] + third_party_layers
        if groups[group]
    ]
    extra_tars = ctx.files.tars
    top_layers = [_layer_action(ctx, pyoci, "app", groups["app"], inputs["app"])]
    if service and service.entries:
        top_layers.append(_layer_action(ctx, pyoci, "service", service.entries, service.inputs))

    config_file = ctx.actions.declare_file(ctx.label.name + ".config.json")
    ctx.actions.write(config_file, json.encode(_image_config(ctx, base, facts, runfiles_root, interpreter, repos, service)))

    # The image action writes the index, manifest and config only (`.own`): a layout linking the
    # layers' blobs would make Bazel re-digest the base and every third-party layer after each
    # edit (a new link changes a file's ctime, which Bazel's digest cache keys on). Readers take
    # the layers from the layer files and the base's layout. `layout` (complete) is written by
    # its own action, only for what asks for it.
    own_layout = ctx.actions.declare_directory(ctx.label.name + ".own")
    layout = ctx.actions.declare_directory(ctx.label.name)
    digest = ctx.actions.declare_file(ctx.label.name + ".digest")
    verified = ctx.actions.declare_file(ctx.label.name + ".verified.json")
    base_verified = image_verified(base)
    base_parts = image_layout_parts(base)
    args = ctx.actions.args()
    args.add("image")
    args.add("--base", base_parts.layout.path)
    add_blob_sources(args, base_parts)
    args.add("--omit-base-blobs")
    args.add("--omit-layer-blobs")
    if base_verified:
        args.add("--base-verified", base_verified)
    for layer in layers:
        args.add("--layer", "{}={}".format(layer.blob.path, layer.descriptor.path))
    for tar in extra_tars:
        args.add("--layer", tar)
    for flag in _special_file_flags(ctx):
        args.add(flag)
    for layer in top_layers:
        args.add("--layer", "{}={}".format(layer.blob.path, layer.descriptor.path))
    for history in [layer.history for layer in layers] + ["tars: " + tar.short_path for tar in extra_tars] + [layer.history for layer in top_layers]:
        args.add("--history", history)
    args.add("--config-json", config_file)
    inputs = [base_parts.layout, config_file] + extra_tars + ([base_verified] if base_verified else [])
    for layer in layers + top_layers:
        inputs.extend([layer.blob, layer.descriptor])
    if should_stamp(ctx):
        if service and service.stamp_defaults:
            args.add("--stamp-info", service.stamp_defaults)
            inputs.append(service.stamp_defaults)
        args.add("--stamp-info", ctx.info_file)
        args.add("--stamp-info", ctx.version_file)
        inputs.extend([ctx.info_file, ctx.version_file])
    args.add("-o", own_layout.path)
    args.add("--digest-out", digest)
    args.add("--quiet")
    args.add("--verified-out", verified)

    # Our layer actions hashed each blob while writing it and its descriptor: sizes suffice.
    args.add("--trust-layer-descriptors")
    ctx.actions.run(
        executable = pyoci,
        arguments = [args],
        inputs = depset(inputs, transitive = [base_parts.blob_layouts]),
        outputs = [own_layout, digest, verified],
        mnemonic = "PyociImage",
        progress_message = "Assembling OCI image {}".format(ctx.label),
    )

    # The base as one layout of this package, written when the base changes, never on an
    # edit. Readers of `.own` take the base's blobs from it: Bazel 4.2's
    # --remote_download_toplevel leaves another repository's tree artifacts in a run target's
    # runfiles undownloaded (an empty directory), this package's it downloads.
    base_copy = ctx.actions.declare_directory(ctx.label.name + ".base")
    base_args = ctx.actions.args()
    base_args.add("layout")
    base_args.add("--image", base_parts.layout.path)
    add_blob_sources(base_args, base_parts)
    base_args.add("-o", base_copy.path)
    ctx.actions.run(
        executable = pyoci,
        arguments = [base_args],
        inputs = image_layout_inputs(base_parts),
        outputs = [base_copy],
        mnemonic = "PyociBaseLayout",
        progress_message = "Linking the base of {} into one layout".format(ctx.label),
    )
    parts = struct(
        layout = own_layout,
        blob_layouts = depset([_blob_layout_action(ctx, pyoci, layer) for layer in layers + top_layers] + [base_copy]),
    )

    layout_args = ctx.actions.args()
    layout_args.add("layout")
    layout_args.add("--image", own_layout.path)
    add_blob_sources(layout_args, parts)
    layout_args.add("-o", layout.path)
    ctx.actions.run(
        executable = pyoci,
        arguments = [layout_args],
        inputs = image_layout_inputs(parts),
        outputs = [layout],
        mnemonic = "PyociLayout",
        progress_message = "Writing the complete OCI layout of {}".format(ctx.label),
    )

    findings = _layer_findings(ctx, pyoci, base, layers + top_layers, extra_tars)
    check_stamp, size_report = _check_action(ctx, pyoci, base, own_layout, base_copy, findings)
    repo_tags = ctx.attr.repo_tags or [default_repo_tag(ctx.label.package, label.name)]
    sbom = _sbom_action(ctx, pyoci, parts, repo_tags[0])

    tarball = ctx.actions.declare_file(ctx.label.name + ".tar")
    tar_args = ctx.actions.args()
    tar_args.add("tarball")
    tar_args.add("--image", own_layout.path)
    add_blob_sources(tar_args, parts)
    for tag in repo_tags:
        tar_args.add("--tag", tag)
    tar_args.add("--format", "docker")
    tar_args.add("-o", tarball)
    tar_args.add("--quiet")
    ctx.actions.run(
        executable = pyoci,
        arguments = [tar_args],
        # The check stamp is not read: it orders the tarball after the gates, so an image that
        # fails them is never written out for loading, whatever Bazel runs validations for.
        inputs = depset([check_stamp], transitive = [image_layout_inputs(parts)]),
        outputs = [tarball],
        mnemonic = "PyociTarball",
        progress_message = "Writing the docker-load tarball of {}".format(ctx.label),
    )

    layer_files = [f for layer in layers + top_layers for f in [layer.blob, layer.descriptor]]
    return [
        DefaultInfo(
            files = depset([own_layout, check_stamp]),
            runfiles = ctx.runfiles(files = [own_layout, digest], transitive_files = parts.blob_layouts),
        ),
        OutputGroupInfo(
            digest = depset([digest]),
            # One complete layout, for tools that take one directory (rules_oci's oci_push,
            # skopeo, umoci).
            layout = depset([layout]),
            tarball = depset([tarball]),
            layers = depset(layer_files),
            sbom = depset([sbom]),
            size_report = depset([size_report]),
            _validation = depset([check_stamp]),
        ),
        OciImageInfo(
            layout = layout,
            own_layout = own_layout,
            blob_layouts = parts.blob_layouts,
            digest = digest,
            verified = verified,
            user = ctx.attr.user or base.user,
            debug = base.debug,
            checks = depset([check_stamp]),
            layer_findings = findings,
        ),
    ]

def _py_image_impl(ctx):
    return py_image_impl(ctx)

def image_toolchains():
    if hasattr(config_common, "toolchain_type"):
        # Bazel 6+: a build without any Python toolchain still gets an image (system python).
        return [
            config_common.toolchain_type(_PYOCI_TOOLCHAIN, mandatory = True),
            config_common.toolchain_type(_PY_TOOLCHAIN, mandatory = False),
        ]
    return [_PYOCI_TOOLCHAIN, _PY_TOOLCHAIN]

# Attributes of both py_image and py_service_image.
IMAGE_ATTRS = dict({
    "binary": attr.label(
        doc = "The `py_binary` to run. Its runfiles (sources, `deps`, `data`) become the image's " +
              "layers; its main file is what the entrypoint runs. Anything else fails at analysis.",
        mandatory = True,
        aspects = [py_binary_facts_aspect],
    ),
    "base": attr.label(
        doc = "The base image: `@distroless_python_nonroot` (recommended: runs as uid 65532), " +
              "`@distroless_python_base` (root: needs `allow_root`), `@distroless_python_debug` / " +
              "`@distroless_python_debug_nonroot` (busybox shell: for debugging only), or any " +
              "target providing OciImageInfo (e.g. a pulled image). Anything else fails at analysis.",
        mandatory = True,
        providers = [OciImageInfo],
    ),
    "env": attr.string_dict(
        doc = "Environment variables, merged over the base's by name. `PYTHONPATH` and " +
              "`RUNFILES_DIR` are set for the binary unless given here.",
    ),
    "labels": attr.string_dict(
        doc = "Image config labels, e.g. `org.opencontainers.image.version`. With stamping, " +
              "`{KEY}` is replaced by the workspace status value of KEY.",
    ),
    "annotations": attr.string_dict(
        doc = "Manifest annotations (same `{KEY}` stamping as `labels`).",
    ),
    "entrypoint": attr.string_list(
        doc = "Overrides the entrypoint. Default: `[\"/usr/bin/python3\", \"<runfiles>/<main>.py\"]` " +
              "(a hermetic interpreter from the runfiles if the Python toolchain has one); on debug " +
              "bases the entrypoint is empty and that command is the default `cmd`, so " +
              "`docker run IMAGE sh` opens a shell.",
    ),
    "workdir": attr.string(
        doc = "Working directory. Default: the main repository's directory in the runfiles " +
              "(`/app/<package>/<binary>.runfiles/<workspace>`), so relative paths to `data` " +
              "files such as `<package>/config.yaml` resolve as under `bazel run`.",
    ),
    "user": attr.string(
        doc = "User (`uid`, `uid:gid` or name) the container runs as. Default: the base's user " +
              "(65532 on the nonroot bases). Application files are world-readable either way. " +
              "A user that resolves to uid 0 needs `allow_root`.",
    ),
    "tars": attr.label_list(
        doc = "Extra layer tarballs (.tar, .tar.gz, .tar.zst) added byte for byte, above the " +
              "third-party layer and below the application layer. Their members follow the rules of " +
              "pyoci's own layers (no `..`, no path through a symlink, hard links within the tarball, " +
              "no whiteouts; devices and setuid root files only with `allow_devices` / `allow_setuid`).",
        allow_files = [".tar", ".tar.gz", ".tgz", ".tar.zst"],
    ),
    "compression": attr.string(
        doc = "Compression of the layers this rule writes: `gzip` (default; every engine) or " +
              "`zstd` (smaller and faster; needs Docker Engine 23+ or podman).",
        default = "gzip",
        values = ["gzip", "zstd"],
    ),
    "ports": attr.string_list(
        doc = "Exposed ports, e.g. `[\"8080\"]` or `[\"8080/tcp\", \"53/udp\"]` (protocol default tcp).",
    ),
    "volumes": attr.string_list(
        doc = "Volume mount points declared in the config, e.g. `[\"/data\"]`.",
    ),
    "stop_signal": attr.string(
        doc = "The signal that stops the container, e.g. `SIGTERM` (default: the engine's).",
    ),
    "healthcheck": attr.string(
        doc = "Docker healthcheck as JSON (the macros take a dict): `{\"test\": [\"CMD\", ...], " +
              "\"interval\": \"30s\", \"timeout\": \"5s\", \"startPeriod\": \"0s\", \"retries\": 3}`. " +
              "Distroless bases have no shell, so `CMD-SHELL` fails at analysis except on debug bases. " +
              "The Docker Engine runs it; podman reads HEALTHCHECK only from Docker-format images, " +
              "not from these OCI images (give it `--health-cmd`).",
    ),
    "repo_tags": attr.string_list(
        doc = "Tags written into the `tarball` output group (default `localhost/<package path>/<binary name>:latest`, " +
              "`localhost/<binary name>:latest` in the root package); " +
              "the first also names the SBOM's document.",
    ),
    "executable_files": attr.label_list(
        doc = "Runfiles of the binary that are executable (mode 0755) in the image, e.g. a helper " +
              "script or a binary the program execs; a file listed here that is not a runfile fails " +
              "at analysis. Every other file is 0644 and every directory 0755, whatever mode the " +
              "file has on disk or on a remote-execution worker, so the digest does not depend on " +
              "where the layer action ran. The hermetic interpreter (from a Python toolchain) is " +
              "always 0755. Shared libraries (`.so`) load without the executable bit.",
        allow_files = True,
    ),
    "bytecode": attr.bool(
        doc = "Ship `.pyc` files for the third-party and application layers, compiled by the base's " +
              "CPython 3.11 with unchecked-hash invalidation (PEP 552: reproducible bytes, never " +
              "rewritten), so a container starts without compiling every import. `False` ships sources only.",
        default = True,
    ),
    "_compile_pyc": attr.label(
        default = Label("//rules/private:compile_pyc.py"),
        allow_single_file = True,
    ),
    "allow_root": attr.bool(
        doc = "Security gate opt-out: let the image run as root (uid 0, e.g. on " +
              "`@distroless_python_base` or the `debug` base, or with `user = \"0\"`). Without it " +
              "such an image fails to build: production images run as a non-root user.",
    ),
    "allow_shell": attr.bool(
        doc = "Security gate opt-out: allow a shell (sh, bash, busybox, ...) or a system package " +
              "manager (dpkg, apt, ...) anywhere in the image. Implied by debug bases, which carry " +
              "busybox on purpose; any other image with a shell fails to build.",
    ),
    "allow_secrets": attr.bool(
        doc = "Security gate opt-out: skip the secrets scan of env values, labels and every " +
              "layer's files (private keys, .env and credentials files, cloud and VCS tokens, " +
              "literal passwords and API keys). Prefer `allow_secrets_in` for one known file.",
    ),
    "allow_secrets_in": attr.string_list(
        doc = "Image paths (files, or directories with everything under them) the secrets scan " +
              "skips, e.g. a test fixture key; env values and labels are still scanned.",
    ),
    "allow_permissions": attr.bool(
        doc = "Security gate opt-out: allow application files (the layers this rule adds) that " +
              "are world-writable or that the image user cannot read.",
    ),
    "allow_setuid": attr.bool(
        doc = "Allow setuid/setgid root files in `tars` and setuid/setgid files in the application " +
              "layers; without it such an image fails to build.",
    ),
    "allow_devices": attr.bool(
        doc = "Allow device nodes and fifos in `tars` and the application layers; without it such an " +
              "image fails to build.",
    ),
    "max_size": attr.string(
        doc = "Fail the build when the image (compressed layers plus config, base included) is " +
              "larger, e.g. `\"150MB\"` or `\"1.5GiB\"` (K/M/G powers of 1000, Ki/Mi/Gi of 1024). " +
              "The `size_report` output group shows where the bytes are.",
    ),
}, **dict(STAMP_ATTRS, **PYTHON_COMPILER_ATTRS))

PY_IMAGE_ATTRS = dict(IMAGE_ATTRS, **{
    "cmd": attr.string_list(
        doc = "Default arguments passed to the program (after the main file); `docker run IMAGE ARGS` replaces them.",
    ),
})

py_image_rule = rule(
    implementation = _py_image_impl,
    doc = "Builds an OCI image layout running a py_binary on a distroless Python base, checked " +
          "against the security gates. Outputs: `<name>.own` (the image's index, manifest and " +
          "config; its layers stay in their own files and the base's in the base's layout, so an " +
          "edit costs the same whatever the image's size) and the gate stamp `<name>.check.json`; output groups `layout` (`<name>`, " +
          "one complete OCI layout), `digest`, `tarball` (docker-load tar), `layers`, " +
          "`sbom` (`<name>.spdx.json`, SPDX 2.3) and `size_report` (`<name>.size.json`).",
    attrs = PY_IMAGE_ATTRS,
    toolchains = image_toolchains(),
)
