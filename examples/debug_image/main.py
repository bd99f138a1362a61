"""Prints who it runs as and whether the image has a shell."""

import os
import shutil


def main():
    print(f"uid={os.getuid()}")
    print(f"shell={shutil.which('sh') or 'none'}")


if __name__ == "__main__":
    main()
