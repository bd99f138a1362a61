"""oci_push (minimal): the seed's `format = "docker"` spelling, which loads into the local engine.

Registry pushes are built by the registry work (issue 5) in this file; until then only the
local-load spelling that BUILD files copied from the seed document use is accepted.
"""

load(":load.bzl", "oci_load")

def oci_push(name, image, repository, format = None, remote_tags = None, **kwargs):
    """Loads `image` into the local Docker Engine/podman as `repository:latest` (`format = "docker"`).

    Args:
      name: target name; `bazel run` it.
      image: the image target (a py_image).
      repository: repository name, e.g. `localhost/my_service`.
      format: must be "docker": load locally instead of pushing to a registry.
      remote_tags: tags to apply (default `["latest"]`).
      **kwargs: common attributes (visibility, tags, loader ...).
    """
    if format != "docker":
        fail("oci_push {}: pushing to a registry is not available yet; `format = \"docker\"` loads into the local engine".format(name))
    repo_tags = ["{}:{}".format(repository, tag) for tag in (remote_tags or ["latest"])]

    # The seed's BUILD files name this target `<image>_load`, which py_image has already created:
    # the same loader for the same tags is simply kept.
    existing = native.existing_rule(name)
    if existing:
        if existing["kind"] == "oci_load" and sorted(existing["repo_tags"]) == sorted(repo_tags):
            return
        fail("oci_push {}: a target of that name already exists (py_image creates `<name>_load` " +
             "loading {}); give py_image `repo_tags = {}` or name this target differently".format(
                 name,
                 existing.get("repo_tags"),
                 repo_tags,
             ))
    oci_load(
        name = name,
        image = image,
        repo_tags = repo_tags,
        **kwargs
    )
