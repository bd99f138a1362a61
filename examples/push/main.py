"""A service that says which build it is; the version label is stamped from git."""

import os


def main():
    print(f"uid={os.getuid()} service=push-example")


if __name__ == "__main__":
    main()
