"""Loads config.yaml (from `data`) and LOG_LEVEL (from the image env) and reports both."""

import os

from service import load_config


def main():
    config = load_config("config.yaml")
    log_level = os.environ.get("LOG_LEVEL", "WARNING")
    print(f"uid={os.getuid()}")
    print(f"service={config['name']} port={config['port']} log_level={log_level}")


if __name__ == "__main__":
    main()
