"""Public API: container images for Python binaries.

    load("@rules_pyoci//rules:oci_python.bzl", "py_image", "py_service_image")
"""

load("//rules/private:load.bzl", "oci_load")
load("//rules/private:py_image.bzl", "py_image_rule")

def _label_name(label):
    """The target name of a label string (`//a/b:c` -> `c`, `//a/b` -> `b`, `:c` -> `c`)."""
    if ":" in label:
        return label.split(":")[-1]
    return label.rstrip("/").split("/")[-1]

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
      - `<name>`: the OCI image layout (a directory), with `<name>.digest` and the output groups
        `tarball` (docker-load tar), `digest` and `layers`;
      - `<name>_load`: `bazel run` it to load the image into the Docker Engine or podman.

    Args:
      name: target name of the image.
      binary: the `py_binary` to run (see py_image_rule's `binary`).
      base: the base image, e.g. `"@distroless_python_nonroot"`.
      repo_tags: `repository:tag` names for the loaded image; default
        `["localhost/<binary name>:latest"]`, so `docker run --rm localhost/<binary name>` works.
      healthcheck: Docker healthcheck as a dict, e.g.
        `{"test": ["CMD", "python3", "-c", "..."], "interval": "30s", "retries": 3}`.
      visibility: visibility of both targets.
      tags: tags of both targets.
      testonly: testonly of both targets.
      **kwargs: every other py_image_rule attribute: env, labels, annotations, entrypoint, cmd,
        workdir, user, tars, compression, stamp, ports, volumes, stop_signal.
    """
    if repo_tags == None:
        repo_tags = ["localhost/{}:latest".format(_label_name(binary))]
    py_image_rule(
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

def py_service_image(name, binary, base = "@distroless_python_nonroot", **kwargs):
    """py_image with production-service defaults: the nonroot base unless `base` says otherwise.

    Takes every py_image argument (ports, volumes, stop_signal and healthcheck included).
    """
    py_image(name = name, binary = binary, base = base, **kwargs)
