"""tuspyserver (FastAPI) as a peer for bench/peers.py: its stock router on a folder, served
by uvicorn with one worker, as its README shows. Runs in bench/.peers-venv (setup.sh).

    bench/.peers-venv/bin/python bench/peers/tuspy_app.py --port 8098 --dir /tmp/x
"""

import argparse

import uvicorn
from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from tuspyserver import create_tus_router


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", required=True, help="where uploads are stored")
    args = parser.parse_args()
    app = FastAPI()
    app.include_router(create_tus_router(prefix="files", files_dir=args.dir, max_size=1 << 40))

    @app.get("/healthz", response_class=PlainTextResponse)
    async def healthz() -> str:
        return "ok"

    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False)


if __name__ == "__main__":
    main()
