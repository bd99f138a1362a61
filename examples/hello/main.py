"""Prints the uid it runs as and the first line of a data file opened by a relative path."""

import os

from greeting import first_line


def main():
    print(f"uid={os.getuid()}")
    # The working directory is the main repository's runfiles directory, as under `bazel run`.
    print(first_line("greeting.txt"))


if __name__ == "__main__":
    main()
