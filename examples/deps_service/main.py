"""Prints the versions of the third-party packages it imports."""

import os

from service import versions


def main():
    found = versions()
    print(f"uid={os.getuid()}")
    print(f"requests={found['requests']} pyyaml={found['pyyaml']}")


if __name__ == "__main__":
    main()
