#!/bin/sh
# The container's entry point.
#   (no arguments), serve [OPTIONS]  apply migrations, then run the server (gunicorn)
#   healthcheck                      exit 0 if /healthz answers (used by HEALTHCHECK)
#   anything else                    a tuslog command, e.g. `ticket create SR-1`, `doctor`
set -eu

case "${1:-serve}" in
healthcheck)
    exec python -c 'import os, urllib.request
port = os.environ.get("TUSLOG_PORT", "8080")
urllib.request.urlopen("http://127.0.0.1:%s/healthz" % port, timeout=4)'
    ;;
serve | -*)
    if [ "${1:-}" = serve ]; then shift; fi
    tuslog migrate
    exec tuslog serve "$@"
    ;;
*)
    exec tuslog "$@"
    ;;
esac
