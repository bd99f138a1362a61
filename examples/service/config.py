"""A flat `key: value` reader: enough for this example without third-party packages."""


def load_config(path):
    config = {}
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            key, _, value = line.partition(":")
            config[key.strip()] = value.strip().strip('"')
    return config
