"""Public API: container images for Python binaries.

    load("@rules_pyoci//rules:oci_python.bzl", "py_image", "py_service_image")
"""

load("//rules/private:load.bzl", "default_repo_tag", "oci_load")
load("//rules/private:py_image.bzl", "py_image_rule")
load("//rules/private:service.bzl", "py_service_image_rule")

def _label_name(label):
    """The target name of a label string (`//a/b:c` -> `c`, `//a/b` -> `b`, `:c` -> `c`)."""
    if ":" in label:
        return label.split(":")[-1]
    return label.rstrip("/").split("/")[-1]

_IMAGE_KINDS = ["py_image_rule", "py_service_image_rule"]

def _taken_tags():
    """The tags the images declared so far in this package load under."""
    taken = {}
    for other in native.existing_rules().values():
        if other.get("kind") in _IMAGE_KINDS:
            for tag in other.get("repo_tags") or []:
                taken[tag] = other["name"]
    return taken

def _default_repo_tags(name, repo_tags, binary, taken):
    """`localhost/<package>/<binary>:latest` for the first image of a binary in a package; the
    next ones (a debug variant, ...) take their own target name as the tag, so each default is
    unique and `docker run localhost/<package>/<binary>` runs the first."""
    if repo_tags != None:
        return repo_tags
    latest = default_repo_tag(native.package_name(), _label_name(binary))
    if latest not in taken:
        return [latest]
    return [default_repo_tag(native.package_name(), _label_name(binary), tag = name)]

def _check_tags_unique(name, repo_tags, taken):
    """Fails when another image of this package already loads under one of `repo_tags`."""
    for tag in repo_tags:
        if tag in taken:
            fail(("py_image {}: tag {} is already taken by :{} in this package; loading both would " +
                  "overwrite one image with the other. Give one of them other `repo_tags`.").format(
                name,
                tag,
                taken[tag],
            ))

def _image_and_load(image_rule, name, binary, base, repo_tags, healthcheck, visibility, tags, testonly, **kwargs):
    """`image_rule` as `name`, and `<name>_load` loading it under `repo_tags`."""
    # native.existing_rules() materialises every rule of the package: read it once per image.
    taken = _taken_tags()
    repo_tags = _default_repo_tags(name, repo_tags, binary, taken)
    _check_tags_unique(name, repo_tags, taken)
    image_rule(
        name = name,
        binary = binary,
        base = base,
        repo_tags = repo_tags,
        healthcheck = json.encode(healthcheck) if healthcheck else None,
        visibility = visibility,
        tags = tags,
        testonly = testonly,
        **kwargs
    )
    oci_load(
        name = name + "_load",
        image = ":" + name,
        repo_tags = repo_tags,
        visibility = visibility,
        tags = tags,
        testonly = testonly,
    )

def py_image(
        name,
        binary,
        base,
        repo_tags = None,
        healthcheck = None,
        visibility = None,
        tags = None,
        testonly = None,
        **kwargs):
    """A container image running `binary` on `base`, plus `<name>_load` to load it.

    Creates:
      - `<name>`: builds `<name>.own`, the image's index, manifest and config (its layers
        stay in their own files, `<name>.layers/*.tar.gz`, and the base's in the base's
        layout, so an edit costs the same on a 24 MB or a 5 GB image), and `<name>.check.json`, the stamp of the security gates (`bazel
        build` fails when a gate fails); output groups `layout` (`<name>`, one complete OCI
        layout for skopeo, umoci and the like), `tarball` (docker-load tar), `digest`,
        `layers`, `sbom` (`<name>.spdx.json`) and `size_report` (`<name>.size.json`);
      - `<name>_load`: `bazel run` it to load the image into the Docker Engine or podman.

    The security gates: the image runs as a non-root user (`allow_root` to opt out), has no
    shell or package manager (`allow_shell`; implied by debug bases), carries no secrets in env,
    labels or files (`allow_secrets`, `allow_secrets_in`), has no world-writable or unreadable
    application files (`allow_permissions`), and is not larger than `max_size` if set.
    (Bazel 4.2 runs them for `bazel run <name>_load` only with --experimental_run_validations;
    Bazel 5+ always does.)

    Args:
      name: target name of the image.
      binary: the `py_binary` to run (see py_image_rule's `binary`).
      base: the base image, e.g. `"@distroless_python_nonroot"`.
      repo_tags: `repository:tag` names for the loaded image; default
        `["localhost/<package path>/<binary name>:latest"]` (lowercase, characters a repository
        name cannot hold replaced by '-'), and `["localhost/<binary name>:latest"]` in the root
        package, so `docker run --rm localhost/<binary name>` works there. Further images of
        the same binary in the package (a debug variant, ...) take their target name as the
        tag: `localhost/<binary name>:<name>`. Two images of one package given the same tag
        fail at loading.
      healthcheck: Docker healthcheck as a dict, e.g.
        `{"test": ["CMD", "python3", "-c", "..."], "interval": "30s", "retries": 3}`.
      visibility: visibility of both targets.
      tags: tags of both targets.
      testonly: testonly of both targets.
      **kwargs: every other py_image_rule attribute: env, labels, annotations, entrypoint, cmd,
        workdir, user, tars, executable_files, compression, stamp, ports, volumes, stop_signal, allow_root,
        allow_shell, allow_secrets, allow_secrets_in, allow_permissions, max_size.
    """
    _image_and_load(py_image_rule, name, binary, base, repo_tags, healthcheck, visibility, tags, testonly, **kwargs)

def py_service_image(
        name,
        binary,
        base = "@distroless_python_nonroot",
        repo_tags = None,
        healthcheck = None,
        visibility = None,
        tags = None,
        testonly = None,
        **kwargs):
    """A production service image: py_image plus configuration, scratch space and stamped labels.

    Everything py_image does (same outputs, `<name>_load`, security gates), with the nonroot
    base by default, and:
      - `config`: files placed read-only under `config_dir` (default `/etc/<binary name>/`),
        also reachable at their runfiles path (a symlink), so the service opens `config.yaml`
        the same way under `bazel run` and in the container;
      - `writable_dirs`: directories owned by the image user (65532 on the nonroot base);
      - `args`: arguments after the entrypoint (py_image's `cmd`);
      - `ports`, `volumes`, `healthcheck`, `stop_signal` for the engine;
      - `stamp_labels`: with `--stamp`, org.opencontainers.image.version, revision, source and
        created from the workspace status.

    Args:
      name: target name of the image.
      binary: the `py_binary` to run.
      base: the base image; default `"@distroless_python_nonroot"` (uid 65532).
      repo_tags: `repository:tag` names for the loaded image; default
        `["localhost/<package path>/<binary name>:latest"]` (see py_image).
      healthcheck: Docker healthcheck as a dict in exec form (distroless has no shell), e.g.
        `{"test": ["CMD", "/usr/bin/python3", "/app/healthcheck.py"], "interval": "30s"}`.
      visibility: visibility of both targets.
      tags: tags of both targets.
      testonly: testonly of both targets.
      **kwargs: every other py_service_image_rule attribute: config, config_dir,
        writable_dirs, args, ports, volumes, stop_signal, stamp_labels, env, labels,
        annotations, entrypoint, workdir, user, tars, executable_files, compression, stamp and the gate
        opt-outs (allow_root, allow_shell, allow_secrets, allow_secrets_in,
        allow_permissions, max_size).
    """
    _image_and_load(py_service_image_rule, name, binary, base, repo_tags, healthcheck, visibility, tags, testonly, **kwargs)
