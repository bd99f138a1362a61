"""Uses the third-party packages from @pip."""

import requests
import yaml


def versions():
    document = yaml.safe_dump({"requests": requests.__version__, "pyyaml": yaml.__version__}, sort_keys=True)
    return yaml.safe_load(document)
