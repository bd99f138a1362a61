"""Imports the packages of rules_python's pip hub and prints who it runs as and their versions."""

import os

import requests
import yaml


def main():
    print(f"uid={os.getuid()}")
    print(f"requests={requests.__version__} pyyaml={yaml.__version__}")


if __name__ == "__main__":
    main()
