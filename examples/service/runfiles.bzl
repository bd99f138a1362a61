"""Where this workspace's files sit in the greeter image, under Bazel 4 (WORKSPACE) and bzlmod."""

# The main repository's directory under <binary>.runfiles: `_main` under bzlmod (Bazel 7+
# stringifies main-repository labels as `@@//...`), else the name WORKSPACE.bazel declares.
MAIN_REPOSITORY = "_main" if str(Label("//:BUILD.bazel")).startswith("@@") else "service_example"

# The greeter's runfiles directory of this workspace in the image.
APP_DIR = "/app/greeter.runfiles/" + MAIN_REPOSITORY
