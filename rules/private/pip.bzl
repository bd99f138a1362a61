"""pip_lock_repository: a pinned, hashed requirements lock installed with pip at fetch time.

Exposes `@<name>//<normalised distribution name>:pkg` py_library targets (the labels of
rules_python's pip hub, e.g. `@pip//requests:pkg`, `@pip//pyyaml:pkg`) and
`@<name>//:requirements.bzl` with `requirement("name")`.

Wheels are chosen for the image, not the machine running Bazel: the base's C library and
architecture (read from its Debian package lock: glibc 2.36 on x86-64 for Debian 12) give every
manylinux tag that runs on it, passed to pip as repeated `--platform`; `--python-version` and
`--implementation` pick the base's CPython 3.11; only binary wheels are accepted, so nothing is
compiled on the host. Extras named by a lock line or a Requires-Dist (nested ones included)
become deps of the `pkg` targets.
"""

# The oldest glibc the perennial manylinux tags describe for these architectures (PEP 600).
_OLDEST_MANYLINUX_GLIBC = {"x86_64": 5, "aarch64": 17}

# Debian architecture -> the machine name in wheel tags.
_DEBIAN_MACHINES = {"amd64": "x86_64", "arm64": "aarch64"}

# PEP 513/571/599 names and the perennial glibc version each stands for.
_LEGACY_MANYLINUX = [("manylinux2014", 17), ("manylinux2010", 12), ("manylinux1", 5)]

def wheel_platforms(glibc_minor, machine):
    """Every platform tag pip may install on a glibc 2.<glibc_minor> `machine` system, newest first."""
    tags = []
    for minor in range(glibc_minor, _OLDEST_MANYLINUX_GLIBC.get(machine, 17) - 1, -1):
        tags.append("manylinux_2_{}_{}".format(minor, machine))
        for legacy, legacy_minor in _LEGACY_MANYLINUX:
            if legacy_minor == minor and (machine == "x86_64" or legacy == "manylinux2014"):
                tags.append("{}_{}".format(legacy, machine))
    tags.append("linux_" + machine)
    return tags

def _base_platforms(rctx):
    """Platform tags from the base's Debian lock: its libc6 version and its architecture."""
    lock = json.decode(rctx.read(rctx.attr.base_lock))
    libc = [p for p in lock.get("packages", []) if p.get("name") == "libc6"]
    if not libc:
        fail("pip_lock_repository {}: attribute base_lock: {} pins no libc6, so the base's glibc is unknown (set `platforms`)".format(rctx.name, rctx.attr.base_lock))
    version = libc[0]["version"].split(":")[-1].split("-")[0]
    parts = version.split(".")
    if len(parts) < 2 or parts[0] != "2" or not parts[1].isdigit():
        fail("pip_lock_repository {}: libc6 {} in {} is not a glibc 2.x version".format(rctx.name, libc[0]["version"], rctx.attr.base_lock))
    architecture = libc[0].get("architecture") or lock.get("architecture", "")
    machine = _DEBIAN_MACHINES.get(architecture)
    if machine == None:
        fail("pip_lock_repository {}: architecture {} of {} has no wheel tags here (known: {})".format(
            rctx.name,
            architecture,
            rctx.attr.base_lock,
            ", ".join(sorted(_DEBIAN_MACHINES)),
        ))
    return wheel_platforms(int(parts[1]), machine), "glibc {} on {}".format(version, machine)

def _pip_lock_repository_impl(rctx):
    python = rctx.which(rctx.attr.python_interpreter) if "/" not in rctx.attr.python_interpreter else rctx.path(rctx.attr.python_interpreter)
    if not python:
        fail("pip_lock_repository {}: `{}` (attribute python_interpreter) is not on PATH".format(rctx.name, rctx.attr.python_interpreter))
    if rctx.attr.platforms:
        platforms, system = rctx.attr.platforms, "the `platforms` attribute"
    else:
        platforms, system = _base_platforms(rctx)
    lock = rctx.path(rctx.attr.requirements_lock)
    hub_script = rctx.path(rctx.attr._hub_script)
    install_dir = rctx.path("_install")
    args = [
        python,
        "-m",
        "pip",
        "install",
        "--require-hashes",
        "--no-deps",
        "--only-binary=:all:",
        "--no-compile",
        "--disable-pip-version-check",
        "--no-input",
        "--quiet",
        "--python-version",
        rctx.attr.python_version,
        "--implementation",
        "cp",
        "--target",
        str(install_dir),
        "--requirement",
        str(lock),
    ]
    for platform in platforms:
        args.extend(["--platform", platform])
    args.extend(rctx.attr.extra_pip_args)
    rctx.report_progress("pip install --require-hashes -r " + rctx.attr.requirements_lock.name)
    result = rctx.execute(args, timeout = rctx.attr.timeout, quiet = True)
    if result.return_code != 0:
        # Nothing of a failed install stays behind: a later fetch starts clean.
        rctx.delete(install_dir)
        explain = rctx.execute(
            [python, hub_script, "explain", "--python-version", rctx.attr.python_version, "--system", system] +
            ["--platform=" + p for p in platforms] +
            ["--pip-arg=" + a for a in rctx.attr.extra_pip_args],
            timeout = 120,
            quiet = True,
            environment = {"PIP_ERROR": result.stderr + "\n" + result.stdout},
        )
        fail("pip_lock_repository {}: pip install of {} failed (exit {}).\n{}{}".format(
            rctx.name,
            rctx.attr.requirements_lock,
            result.return_code,
            explain.stdout if explain.return_code == 0 and explain.stdout else "",
            result.stderr.strip() + "\n" + result.stdout.strip(),
        ))

    hub = rctx.execute([python, hub_script, "layout", str(install_dir), str(rctx.path(".")), str(lock)], quiet = True)
    if hub.return_code != 0:
        rctx.delete(install_dir)
        fail("pip_lock_repository {}: laying out the installed packages failed:\n{}\n{}".format(
            rctx.name,
            hub.stdout,
            hub.stderr,
        ))
    rctx.delete(install_dir)
    rctx.file("BUILD.bazel", "# Generated by rules_pyoci's pip_lock_repository from {}.\nexports_files([\"requirements.bzl\"])\n".format(rctx.attr.requirements_lock))

pip_lock_repository = repository_rule(
    implementation = _pip_lock_repository_impl,
    doc = "Installs a pinned, hashed requirements lock with pip and exposes `//<name>:pkg` py_library targets. " +
          "Wheels are picked for the base (every manylinux tag its glibc runs); a distribution without a " +
          "compatible wheel fails the fetch naming it, the tags tried and the tags its wheels have.",
    attrs = {
        "requirements_lock": attr.label(
            doc = "A requirements file in which every line pins `name==version` (or `name[extra]==version`) " +
                  "with `--hash=sha256:...` (e.g. from `pip-compile --generate-hashes`), transitive " +
                  "dependencies included. Extras named here or in a Requires-Dist become deps.",
            mandatory = True,
            allow_single_file = True,
        ),
        "python_interpreter": attr.string(
            doc = "The interpreter that runs pip at fetch time (a name on PATH or an absolute path).",
            default = "python3",
        ),
        "base_lock": attr.label(
            doc = "The base's Debian package lock: its libc6 version and architecture decide the wheel " +
                  "platforms (glibc 2.36 on amd64: manylinux_2_36_x86_64 down to manylinux1_x86_64, " +
                  "then linux_x86_64).",
            default = Label("//rules/private/distroless:bookworm_amd64.lock.json"),
            allow_single_file = [".json"],
        ),
        "platforms": attr.string_list(
            doc = "pip `--platform` tags to install wheels for, instead of those derived from `base_lock` " +
                  "(for a base not built from a Debian lock, e.g. a pulled one).",
        ),
        "python_version": attr.string(
            doc = "pip `--python-version`: the image interpreter's version (distroless Debian 12: 3.11).",
            default = "3.11",
        ),
        "extra_pip_args": attr.string_list(
            doc = "More `pip install` arguments, e.g. `[\"--index-url\", \"https://mirror/simple\"]`.",
        ),
        "timeout": attr.int(
            doc = "Seconds pip may take.",
            default = 600,
        ),
        "_hub_script": attr.label(
            default = Label("//rules/private:pip_hub.py"),
            allow_single_file = True,
        ),
    },
    environ = ["PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS"],
)
