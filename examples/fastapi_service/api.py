"""A FastAPI service: GET / answers with the versions it runs and whether bytecode was shipped.

`api --import-time` prints how long importing the web stack took and exits (bench/startup_bench.sh).
"""

import sys
import time

_started = time.perf_counter()
import fastapi  # noqa: E402
import pydantic  # noqa: E402
import uvicorn  # noqa: E402

IMPORT_SECONDS = time.perf_counter() - _started

app = fastapi.FastAPI()


@app.get("/")
def root():
    return {
        "fastapi": fastapi.__version__,
        "pydantic": pydantic.VERSION,
        "uvicorn": uvicorn.__version__,
        "bytecode": fastapi.__spec__.cached is not None and __import__("os").path.exists(fastapi.__spec__.cached),
    }


def main():
    if "--import-time" in sys.argv:
        print(f"{IMPORT_SECONDS:.4f}")
        return
    uvicorn.run(app, host="0.0.0.0", port=8000, log_level="warning")


if __name__ == "__main__":
    main()
