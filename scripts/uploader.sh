#!/bin/sh
# tuslog uploader (POSIX sh + curl): resumable upload of a file, a directory or standard
# input to a tuslog server.
#
#   curl -fsSLO https://HOST/uploader.sh && sh uploader.sh HOST TOKEN FILE
#
# Run `sh uploader.sh --help` for options, resuming and exit codes.
# Needs: curl, and sha256sum, shasum or openssl; otherwise only standard POSIX tools
# (tar and gzip for a directory).

set -u

VERSION=0.1.0
PROG=uploader.sh

# Exit codes (the same in uploader.py; documented in --help and the README).
EX_OK=0
EX_USAGE=2
EX_MISSING=3
EX_FILE=4
EX_TOKEN=5
EX_NOT_OWNER=6
EX_GONE=7
EX_TOO_LARGE=8
EX_NO_SPACE=9
EX_RETRIES=10
EX_CORRUPT=11
EX_TLS=12
EX_PROTOCOL=13

DEFAULT_CHUNK=16777216
DEFAULT_RETRIES=10
DEFAULT_TIMEOUT=60
MAX_BACKOFF=60
MAX_RETRY_AFTER=300
# A server never reached in this run, with no earlier upload to resume: give up after
# about this many seconds (connect attempts limited to FIRST_CONNECT_TIMEOUT each).
FIRST_CONTACT_LIMIT=25
FIRST_CONNECT_TIMEOUT=15
FIRST_CONTACT_BACKOFF=8
QUIET_RETRY_EVERY=60

usage() {
	cat <<'EOF'
Usage: sh uploader.sh [OPTIONS] HOST TOKEN FILE|DIR|-
       sh uploader.sh [OPTIONS] --token-file TOKENFILE HOST FILE|DIR|-

Upload FILE (or a directory, or standard input) to the tuslog server at HOST with
the upload TOKEN that support gave you. The upload survives dropped connections:
it resumes where the server stopped receiving. A FILE also resumes when you run
the same command again (after a crash, Ctrl-C or a reboot); rerunning never
costs another use of the token.

  HOST     host, host:port or a base URL (https://logs.example.com); https is
           used when no scheme is given (http://HOST for a plain-http server)
  TOKEN    the upload token (tlu_...); "-" asks for it (or reads one line of
           standard input), which keeps it out of the process list and your
           shell history
  FILE     the file to send (e.g. a .tar.gz of your logs)
  DIR      a directory: packed on the fly (tar czf -) and sent as DIR.tar.gz
  -        standard input, e.g.
             journalctl -b | sh uploader.sh --token-file t.txt HOST - --name boot.log

Options:
  --name NAME        the file name on the server (default: FILE's name, DIR's
                     name + .tar.gz, or stdin-MACHINE-DATE for standard input)
  --token-file FILE  read the token from the first line of FILE instead of the
                     TOKEN argument (needed when the data comes from standard
                     input)
  --chunk-size SIZE  bytes per request, e.g. 8M, 64M, 1G (default 16M); 0 sends
                     the rest of a file in one request (not for DIR or -)
  --retries N        give up after N failed attempts in a row that brought no
                     progress (default 10; waits 1, 2, 4 ... 60 s between them,
                     about 5 minutes in all). Any progress resets the count.
                     A server that was never reached (wrong HOST or port, no
                     network) is given up on after about 30 seconds.
  --timeout SECONDS  treat a connection as dead when no data moves for this long
                     (default 60)
  --cacert FILE      trust the CA certificate(s) in FILE (PEM) for the server
  --insecure         do not check the server's TLS certificate (dangerous: only
                     for a test server; the token and logs could be intercepted)
  --quiet            no progress output; errors, the final receipt and (once a
                     minute) the reason for retrying still print
  --help             show this help and exit
  --version          show the version and exit

Proxies: curl honours https_proxy / HTTPS_PROXY, http_proxy (lower case only),
ALL_PROXY and NO_PROXY.

Resuming a FILE: the upload address is kept in a small state file (mode 0600)
under ${XDG_STATE_HOME:-$HOME/.local/state}/tuslog/, named by a hash of the
server, the token and the file's SHA-256 (the token itself is not stored). The
same file can be resumed with uploader.py as well.

Directories and standard input are streamed: nothing is written to your disk
but the chunk in flight, kept in $TMPDIR (default /tmp) until the server has it
(--chunk-size bytes: 16 MiB by default; uploader.py keeps it in memory). The
SHA-256 is computed while sending. Dropped connections are survived as for a
file, but a stream cannot be resumed once the uploader itself stops (Ctrl-C,
crash, reboot, giving up): the data went with the pipe. Running the command
again starts a new upload, which needs another use of the token; the unfinished
one expires on the server. On a poor network, and when you have the space,
pack to a file first (tar czf logs.tar.gz DIR) and send that: a file resumes.

On success the server has confirmed every byte and the receipt on standard output
shows the ticket, file, size, SHA-256 and the server's verification result.

Exit codes (the same for uploader.py):
   0  upload complete, confirmed by the server (SHA-256 verified when it says so)
   1  unexpected internal error (please report it)
   2  bad usage: unknown option, missing argument, malformed token or HOST
   3  a required tool is missing (curl; sha256sum, shasum or openssl)
   4  FILE or DIR is missing or not readable, or no room for the chunk in flight
   5  token refused (401): unknown, expired, used up or revoked; ask support
   6  this upload belongs to another token (403)
   7  the earlier upload expired or was removed on the server, and the token
      allows no new upload (or a stream's upload vanished); ask support
   8  file too large for the server or the token's quota (413)
   9  the server has not enough free space (507); try later or ask support
  10  gave up after --retries attempts without progress (network or server
      trouble), or the server was still checking the file; run the same
      command again to resume (a directory or standard input starts over)
  11  the server's SHA-256 of the upload does not match what was sent
      (corrupt; did the file change while uploading?)
  12  TLS problem: the server's certificate is not trusted (see --cacert)
  13  the server was never reached, or is not a tus server (wrong HOST or
      port? plain http?), or it answered something unexpected
 130  interrupted (Ctrl-C); run the same command again to resume (a stream
      cannot resume: it starts over with another use of the token)
 143  terminated (SIGTERM); as for 130
EOF
}

# ---------------------------------------------------------------------------- output
QUIET=0
TTY=0
DRAWN=0 # lines of progress display at the bottom of the terminal, to draw over

say() {
	[ "$QUIET" = 1 ] && return 0
	undraw_keep
	printf '%s: %s\n' "$PROG" "$*" >&2
}

warn() {
	undraw_keep
	printf '%s: warning: %s\n' "$PROG" "$*" >&2
}

die() {
	code=$1
	shift
	undraw_keep
	printf '%s: error: %s\n' "$PROG" "$*" >&2
	exit "$code"
}

# The progress display stays as it is when anything else is printed; the next one
# starts below.
undraw_keep() {
	DRAWN=0
}

human() {
	awk -v b="$1" 'BEGIN {
		split("B KiB MiB GiB TiB PiB", u, " "); i = 1
		while (b >= 1024 && i < 6) { b /= 1024; i++ }
		if (i == 1) printf "%d B", b; else printf "%.1f %s", b, u[i]
	}'
}

percent() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (b <= 0) print "100.0"; else printf "%.1f", 100 * a / b }'
}

now() {
	date +%s
}

# How far the upload got, for messages: a percentage of a file, bytes of a stream.
where_at() {
	if [ "$DEFERRED" = 1 ]; then
		printf '%s sent' "$(human "${BEST:-0}")"
	else
		printf '%s%%' "$(percent "${BEST:-0}" "$SIZE")"
	fi
}

# Shown before every request of the upload: redrawn in place on a terminal.
STARTED=0
START_OFFSET=0
LAST_LINE_TIME=0
LAST_LINE_PCT=-100

rate_of() {
	elapsed=$(($(now) - STARTED))
	sent=$(($1 - START_OFFSET))
	BPS=0
	if [ "$elapsed" -gt 0 ] && [ "$sent" -gt 0 ]; then
		BPS=$((sent / elapsed))
	fi
}

status_line() {
	off=$1
	rate_of "$off"
	if [ "$DEFERRED" = 1 ]; then
		# A stream's length is unknown until its end: bytes and rate only.
		printf '%s' "$(human "$off")"
		[ "$BPS" -gt 0 ] && printf ' (%s/s)' "$(human "$BPS")"
		return 0
	fi
	rate=""
	if [ "$BPS" -gt 0 ]; then
		left=$(((SIZE - off) / (BPS + 1)))
		rate=", $(human "$BPS")/s"
		[ "$off" -lt "$SIZE" ] && rate="$rate, about $((left / 60))m$((left % 60))s left"
	fi
	printf '%s%% (%s of %s%s)' "$(percent "$off" "$SIZE")" "$(human "$off")" "$(human "$SIZE")" "$rate"
}

show_progress() {
	[ "$QUIET" = 1 ] && return 0
	if [ "$TTY" = 1 ]; then
		if [ "$DRAWN" -gt 0 ]; then
			printf '\033[%sA\033[J' "$DRAWN" >&2
		fi
		printf '%s: %s %s\n' "$PROG" "${2:-sending}" "$(status_line "$1")" >&2
		DRAWN=1
		return 0
	fi
	label=""
	[ "$DEFERRED" = 1 ] && label="${2:-sent so far}: "
	# Not a terminal: a plain line per 5 % (of a file) or per 30 s, whichever comes first.
	t=$(now)
	p=$LAST_LINE_PCT
	if [ "$DEFERRED" = 0 ]; then
		p=$(awk -v a="$1" -v b="$SIZE" 'BEGIN { if (b <= 0) print 100; else printf "%d", 100 * a / b }')
	fi
	if [ $((p - LAST_LINE_PCT)) -ge 5 ] || [ $((t - LAST_LINE_TIME)) -ge 30 ] || [ -n "${2:-}" ]; then
		printf '%s: %s%s\n' "$PROG" "$label" "$(status_line "$1")" >&2
		LAST_LINE_TIME=$t
		LAST_LINE_PCT=$p
	fi
}

# ---------------------------------------------------------------------------- helpers
have() {
	command -v "$1" >/dev/null 2>&1
}

sha256_stdin() {
	if have sha256sum; then
		sha256sum | awk '{ print $1 }'
	elif have shasum; then
		shasum -a 256 | awk '{ print $1 }'
	else
		openssl dgst -sha256 | awk '{ print $NF }'
	fi
}

b64() {
	if have base64; then
		base64 | tr -d '\r\n'
	else
		openssl base64 -A
	fi
}

is_uint() {
	case $1 in
	'' | *[!0-9]*) return 1 ;;
	*) return 0 ;;
	esac
}

parse_size() {
	v=$1
	mult=1
	case $v in
	*[Kk] | *[Kk][Ii][Bb] | *[Kk][Bb]) mult=1024 ;;
	*[Mm] | *[Mm][Ii][Bb] | *[Mm][Bb]) mult=1048576 ;;
	*[Gg] | *[Gg][Ii][Bb] | *[Gg][Bb]) mult=1073741824 ;;
	esac
	num=$(printf '%s' "$v" | sed 's/[KkMmGg][IiBb]*$//; s/[Bb]$//')
	is_uint "$num" || return 1
	echo $((num * mult))
}

# header_value NAME FILE: last value of a response header (case-insensitive), no CR.
header_value() {
	awk -v h="$1" '
		{ sub(/\r$/, "") }
		{ i = index($0, ":"); if (i > 1 && tolower(substr($0, 1, i - 1)) == tolower(h)) {
			v = substr($0, i + 1); sub(/^[ \t]+/, "", v); sub(/[ \t]+$/, "", v); last = v } }
		END { if (last != "") print last }' "$2"
}

# One-line, printable, bounded text of the server's error body.
server_message() {
	if [ -s "$TMP/b" ]; then
		head -n 1 "$TMP/b" | tr -d '\r' | LC_ALL=C tr -c '[:print:]' ' ' | cut -c 1-200 |
			sed 's/[[:space:]]*$//'
	fi
}

curl_detail() {
	if [ -s "$TMP/e" ]; then
		grep 'curl: (' "$TMP/e" | tail -n 1 | tr -d '\r\n' | LC_ALL=C tr -c '[:print:]' ' ' | cut -c 1-160
	fi
}

curl_reason() {
	rc=$1
	case $rc in
	5) r="cannot resolve the proxy" ;;
	6) r="cannot resolve the server name" ;;
	7) r="cannot connect to the server" ;;
	18) r="the transfer ended early" ;;
	28) r="no data moved for ${TIMEOUT}s (stalled connection)" ;;
	35) r="TLS handshake failed" ;;
	52) r="the server closed the connection without an answer" ;;
	55) r="the connection broke while sending" ;;
	56) r="the connection broke while receiving" ;;
	*) r="curl error $rc" ;;
	esac
	detail=$(curl_detail)
	if [ -n "$detail" ]; then
		printf '%s [%s]' "$r" "$detail"
	else
		printf '%s' "$r"
	fi
}

# ---------------------------------------------------------------------------- arguments
CHUNK=$DEFAULT_CHUNK
RETRIES=$DEFAULT_RETRIES
TIMEOUT=$DEFAULT_TIMEOUT
CACERT=""
INSECURE=0
HOST=""
TOKEN=""
TOKEN_FILE=""
NAME_OPT=""
FILE=""
POS1=""
POS2=""
POS3=""
NPOS=0

need_value() {
	[ "$2" -ge 2 ] || die "$EX_USAGE" "option $1 needs a value (see --help)"
}

positional() {
	NPOS=$((NPOS + 1))
	case $NPOS in
	1) POS1=$1 ;;
	2) POS2=$1 ;;
	3) POS3=$1 ;;
	*) die "$EX_USAGE" "too many arguments: expected HOST TOKEN FILE (see --help)" ;;
	esac
}

while [ $# -gt 0 ]; do
	opt=$1
	val=""
	case $opt in
	--*=*)
		val=${opt#*=}
		opt=${opt%%=*}
		[ -n "$val" ] || die "$EX_USAGE" "option $opt needs a value (see --help)"
		;;
	esac
	case $opt in
	-h | --help) usage; exit "$EX_OK" ;;
	-V | --version) echo "$PROG (tuslog) $VERSION"; exit "$EX_OK" ;;
	--quiet | -q) QUIET=1 ;;
	--insecure | -k) INSECURE=1 ;;
	--chunk-size | --retries | --timeout | --cacert | --token-file | --name)
		if [ -z "$val" ]; then
			need_value "$opt" $#
			val=$2
			shift
		fi
		case $opt in
		--chunk-size)
			CHUNK=$(parse_size "$val") || die "$EX_USAGE" "--chunk-size: not a size: $val (e.g. 16M)"
			[ "$CHUNK" = 0 ] || [ "$CHUNK" -ge 1024 ] || die "$EX_USAGE" "--chunk-size must be 0 or at least 1K"
			;;
		--retries)
			is_uint "$val" || die "$EX_USAGE" "--retries: not a whole number: $val"
			RETRIES=$val
			;;
		--timeout)
			is_uint "$val" && [ "$val" -ge 1 ] || die "$EX_USAGE" "--timeout: not a number of seconds: $val"
			TIMEOUT=$val
			;;
		--cacert)
			[ -r "$val" ] || die "$EX_USAGE" "--cacert: cannot read $val"
			CACERT=$val
			;;
		--token-file)
			[ -r "$val" ] && [ ! -d "$val" ] || die "$EX_USAGE" "--token-file: cannot read $val"
			TOKEN_FILE=$val
			;;
		--name) NAME_OPT=$val ;;
		esac
		;;
	--) shift; while [ $# -gt 0 ]; do positional "$1"; shift; done; break ;;
	-?*) die "$EX_USAGE" "unknown option: $opt (see --help)" ;;
	*) positional "$opt" ;;
	esac
	shift
done

if [ -n "$TOKEN_FILE" ]; then
	[ "$NPOS" -eq 2 ] || die "$EX_USAGE" "with --token-file, give HOST and FILE (no TOKEN argument; see --help)"
	HOST=$POS1
	FILE=$POS2
else
	[ "$NPOS" -eq 3 ] || die "$EX_USAGE" "expected HOST TOKEN FILE (see --help)"
	HOST=$POS1
	TOKEN=$POS2
	FILE=$POS3
fi

[ -t 2 ] && TTY=1

# ---------------------------------------------------------------------------- checks
have curl || die "$EX_MISSING" "curl is required: install it with your package manager"
have sha256sum || have shasum || have openssl ||
	die "$EX_MISSING" "need sha256sum, shasum or openssl to compute the file's SHA-256"
have base64 || have openssl || die "$EX_MISSING" "need base64 or openssl"

# What is sent: a regular FILE, a directory packed on the fly, or standard input.
SOURCE="file"
if [ "$FILE" = - ]; then
	SOURCE=stdin
elif [ -d "$FILE" ]; then
	SOURCE=dir
fi

if [ "$TOKEN" = - ] && [ "$SOURCE" = stdin ]; then
	die "$EX_USAGE" "TOKEN cannot be - when the data comes from standard input: put the token in a file and use --token-file FILE"
fi

# shellcheck disable=SC2329 # invoked by trap
restore_echo() {
	stty echo 2>/dev/null
}

if [ -n "$TOKEN_FILE" ]; then
	TOKEN=$(head -n 1 "$TOKEN_FILE")
elif [ "$TOKEN" = - ]; then
	if [ -t 0 ]; then
		printf '%s: paste the upload token and press Enter: ' "$PROG" >&2
		trap 'restore_echo; exit 130' INT
		stty -echo 2>/dev/null
		IFS= read -r TOKEN || true
		restore_echo
		trap - INT
		printf '\n' >&2
	else
		IFS= read -r TOKEN || true
	fi
fi
TOKEN=$(printf '%s' "$TOKEN" | tr -d ' \t\r\n"')
if ! printf '%s\n' "$TOKEN" | grep -Eq '^tlu_[a-z2-7]{8}_[A-Za-z0-9_-]{43}$'; then
	die "$EX_USAGE" "TOKEN does not look like an upload token (tlu_xxxxxxxx_...); copy it again from the message support sent you"
fi
TOKEN_HINT="$(printf '%s' "$TOKEN" | cut -c 1-12)..."

case $HOST in
*[[:space:]\"\'\\]* | '') die "$EX_USAGE" "HOST is not a host name or URL: $HOST" ;;
http://* | https://*) BASE=$HOST ;;
*://*) die "$EX_USAGE" "HOST must use https:// or http://: $HOST" ;;
*) BASE="https://$HOST" ;;
esac
while :; do
	case $BASE in
	*/) BASE=${BASE%/} ;;
	*/files) BASE=${BASE%/files} ;;
	*) break ;;
	esac
done
ENDPOINT="$BASE/files/"
ORIGIN=$(printf '%s' "$BASE" | sed 's#^\([a-z]*://[^/]*\).*#\1#')
case $ORIGIN in
http://localhost* | http://127.* | http://\[::1\]*) ;;
http://*) warn "plain http: the token and your logs travel unencrypted; prefer https" ;;
esac

case $SOURCE in
stdin)
	[ -t 0 ] && die "$EX_USAGE" "standard input is a terminal: pipe the data in, e.g. some-command | sh $PROG HOST TOKEN - --name out.txt"
	DISPLAY_NAME="standard input"
	;;
dir)
	[ -r "$FILE" ] && [ -x "$FILE" ] || die "$EX_FILE" "cannot read the directory $FILE (permission denied?)"
	have tar || die "$EX_MISSING" "tar is required to send a directory"
	have gzip || die "$EX_MISSING" "gzip is required to send a directory"
	DIR_ABS=$(cd -- "$FILE" && pwd -P) || die "$EX_FILE" "cannot enter the directory $FILE"
	DISPLAY_NAME="directory $FILE"
	;;
file)
	[ -e "$FILE" ] || die "$EX_FILE" "file not found: $FILE"
	[ -f "$FILE" ] || die "$EX_FILE" "not a regular file: $FILE"
	[ -r "$FILE" ] || die "$EX_FILE" "cannot read $FILE (permission denied?)"
	DISPLAY_NAME=$FILE
	SIZE=$(wc -c <"$FILE" 2>/dev/null | tr -d ' \t\n') || SIZE=""
	is_uint "$SIZE" || die "$EX_FILE" "cannot read $FILE"
	;;
esac
if [ "$SOURCE" != file ]; then
	[ "$CHUNK" -gt 0 ] || die "$EX_USAGE" "--chunk-size 0 cannot be used for a directory or standard input: the chunk in flight is kept until the server has it"
	if ! have mkfifo || ! have dd; then
		die "$EX_MISSING" "mkfifo and dd are required to send a directory or standard input"
	fi
fi

[ "$INSECURE" = 1 ] &&
	warn "--insecure: the server's TLS certificate is NOT checked; anyone on the path could read your logs and token"

# ---------------------------------------------------------------------------- work area
TMP=$(umask 077 && mktemp -d "${TMPDIR:-/tmp}/tuslog-upload.XXXXXX") ||
	die "$EX_FILE" "cannot create a temporary directory in ${TMPDIR:-/tmp}"
DEFERRED=0 # a stream longer than one chunk: sent with a deferred length
# shellcheck disable=SC2329 # invoked by trap
cleanup() {
	rm -rf "$TMP"
}
# shellcheck disable=SC2329 # invoked by trap
on_signal() {
	cleanup
	trap - EXIT
	if [ "$SOURCE" = file ]; then
		printf '\n%s: %s at %s; run the same command again to resume\n' "$PROG" "$1" "$(where_at)" >&2
	else
		printf '\n%s: %s after %s: %s\n' "$PROG" "$1" "$(human "${BEST:-0}")" "$STREAM_LOST" >&2
	fi
	exit "$2"
}
STREAM_LOST="a stream (a directory or standard input) cannot be resumed: run the command again to send it anew (that needs another use of the token); the unfinished upload expires on the server"
trap cleanup EXIT
trap 'on_signal interrupted 130' INT
trap 'on_signal terminated 143' TERM
trap 'on_signal "hung up" 129' HUP

# The token goes to curl through a config file, never on its command line.
(
	umask 077
	printf 'header = "Authorization: Bearer %s"\n' "$TOKEN" >"$TMP/auth"
	printf 'header = "Tus-Resumable: 1.0.0"\n' >>"$TMP/auth"
)

CURL_VERSION=$(curl --version 2>/dev/null | awk 'NR == 1 { print $2 }')
HTTP11=1
case $CURL_VERSION in
7.[0-9].* | 7.[12][0-9].* | 7.3[0-2].*) HTTP11=0 ;;
esac

# Before the first answer of a tus server in this run, and with no earlier upload of
# this file to resume, a failure is most likely a wrong HOST: give up soon (exit 13).
CONTACTED=0
RESUMING=0
first_contact() {
	[ "$CONTACTED" = 0 ] && [ "$RESUMING" = 0 ]
}

# http METHOD URL [more curl args]: status in HTTP_STATUS ("000" on a curl error) and the
# curl exit code in CURL_RC; headers in $TMP/h, body in $TMP/b, curl's stderr in $TMP/e.
# The request body, if any, comes from standard input (curl -T -).
http() {
	method=$1
	url=$2
	shift 2
	: >"$TMP/h"
	: >"$TMP/b"
	: >"$TMP/e"
	if [ "$method" = HEAD ]; then
		set -- -I --max-time $((TIMEOUT * 2)) "$@"
	elif [ "$method" = POST ]; then
		set -- -X POST --max-time $((TIMEOUT * 2)) "$@"
	else
		set -- -X "$method" "$@"
	fi
	connect=$TIMEOUT
	first_contact && [ "$connect" -gt "$FIRST_CONNECT_TIMEOUT" ] && connect=$FIRST_CONNECT_TIMEOUT
	set -- -K "$TMP/auth" --connect-timeout "$connect" --speed-limit 1 --speed-time "$TIMEOUT" \
		-A "tuslog-uploader.sh/$VERSION curl/$CURL_VERSION" "$@"
	[ "$HTTP11" = 1 ] && set -- --http1.1 "$@"
	[ -n "$CACERT" ] && set -- --cacert "$CACERT" "$@"
	[ "$INSECURE" = 1 ] && set -- -k "$@"
	set -- -q "$@" # first: ignore the user's ~/.curlrc
	if [ "$method" = PATCH ] && [ "$TTY" = 1 ] && [ "$QUIET" = 0 ] && [ "$DEFERRED" = 0 ]; then
		# curl's own progress bar for this request, on the terminal.
		curl "$@" -# -D "$TMP/h" -o "$TMP/b" -w '%{http_code}' "$url" >"$TMP/s"
	else
		curl "$@" -sS -D "$TMP/h" -o "$TMP/b" -w '%{http_code}' "$url" >"$TMP/s" 2>"$TMP/e"
	fi
	echo $? >"$TMP/rc"
}

read_result() {
	CURL_RC=$(cat "$TMP/rc" 2>/dev/null)
	HTTP_STATUS=$(cat "$TMP/s" 2>/dev/null)
	is_uint "$CURL_RC" || CURL_RC=1
	is_uint "$HTTP_STATUS" || HTTP_STATUS=000
	if [ "$CURL_RC" != 0 ]; then
		HTTP_STATUS=000
	fi
}

# ---------------------------------------------------------------------------- name
if [ -n "$NAME_OPT" ]; then
	case $NAME_OPT in */*) die "$EX_USAGE" "--name takes a file name, without /: $NAME_OPT" ;; esac
	NAME=$NAME_OPT
elif [ "$SOURCE" = dir ]; then
	NAME="$(basename -- "$DIR_ABS").tar.gz"
	[ "$DIR_ABS" = / ] && NAME=root.tar.gz
elif [ "$SOURCE" = stdin ]; then
	NAME="stdin-$(uname -n 2>/dev/null | cut -d . -f 1)-$(date -u +%Y%m%d-%H%M%S)"
else
	NAME=$(basename -- "$FILE")
fi
NAME=$(printf '%s' "$NAME" | LC_ALL=C tr -d '\000-\037\177')
if have iconv; then
	NAME=$(printf '%s\n' "$NAME" | LC_ALL=C cut -b 1-255 | iconv -c -f UTF-8 -t UTF-8 2>/dev/null)
fi
[ -n "$NAME" ] || NAME=upload
NAME_B64=$(printf '%s' "$NAME" | b64)

# ---------------------------------------------------------------------------- stream
# A directory or standard input is read one chunk at a time into $TMP/chunk (the only
# bytes written locally), which is kept until the server has confirmed it. The bytes
# are hashed by a background sha256sum fed through a FIFO, in the order they are sent.
CHUNK_BASE=0 # server offset of the chunk's first byte
CHUNK_LEN=0
STREAM_EOF=0
STREAMED=0 # bytes read from the stream so far

start_stream() {
	avail=$(df -Pk "$TMP" 2>/dev/null | awk 'NR == 2 { print $4 }')
	if is_uint "$avail" && [ $((avail * 1024)) -lt $((CHUNK + 65536)) ]; then
		die "$EX_FILE" "no room for one chunk ($(human "$CHUNK")) in ${TMPDIR:-/tmp} ($(human $((avail * 1024))) free): use a smaller --chunk-size, e.g. --chunk-size 1M, or TMPDIR=/dev/shm"
	fi
	mkfifo "$TMP/hash" || die "$EX_FILE" "cannot create a FIFO in $TMP"
	sha256_stdin <"$TMP/hash" >"$TMP/sha" &
	HASHER=$!
	exec 5>"$TMP/hash"
	if [ "$SOURCE" = stdin ]; then
		exec 3<&0
	else
		mkfifo "$TMP/tar" || die "$EX_FILE" "cannot create a FIFO in $TMP"
		parent=$(dirname -- "$DIR_ABS")
		base=$(basename -- "$DIR_ABS")
		case $base in -*) base="./$base" ;; esac
		[ "$DIR_ABS" = / ] && parent=/ && base=.
		(
			exec 5>&- # the hasher must see its end when this process ends
			tar -c -z -f - -C "$parent" "$base"
			echo $? >"$TMP/tar.rc"
		) >"$TMP/tar" &
		exec 3<"$TMP/tar"
	fi
}

# Fill $TMP/chunk with the next --chunk-size bytes of the stream (fewer at its end).
# dd reads a pipe without reading ahead; a read of nothing is the end of the stream.
read_chunk() {
	: >"$TMP/chunk" || die "$EX_FILE" "cannot write $TMP/chunk"
	CHUNK_LEN=0
	while [ "$CHUNK_LEN" -lt "$CHUNK" ]; do
		want=$((CHUNK - CHUNK_LEN))
		if [ "$want" -ge 65536 ]; then
			dd bs=65536 count=$((want / 65536)) <&3 >>"$TMP/chunk" 2>"$TMP/dd" || dd_failed
		else
			dd bs="$want" count=1 <&3 >>"$TMP/chunk" 2>"$TMP/dd" || dd_failed
		fi
		got=$(wc -c <"$TMP/chunk" | tr -d ' \t')
		if [ "$got" = "$CHUNK_LEN" ]; then
			STREAM_EOF=1
			break
		fi
		CHUNK_LEN=$got
	done
	cat "$TMP/chunk" >&5 || die "$EX_FILE" "cannot hash the stream"
	STREAMED=$((STREAMED + CHUNK_LEN))
	[ "$STREAM_EOF" = 1 ] && end_stream
	return 0
}

dd_failed() {
	msg=$(grep -v 'records\|bytes' "$TMP/dd" | head -n 1 | LC_ALL=C tr -c '[:print:]' ' ')
	die "$EX_FILE" "cannot keep the chunk in flight in ${TMPDIR:-/tmp}${msg:+ ($msg)}: use a smaller --chunk-size or another TMPDIR (e.g. TMPDIR=/dev/shm); nothing can be resumed"
}

end_stream() {
	exec 3<&- 5>&-
	wait "$HASHER"
	SHA=$(cat "$TMP/sha")
	printf '%s\n' "$SHA" | grep -Eq '^[0-9a-f]{64}$' || die "$EX_FILE" "cannot compute the SHA-256 of the stream"
	SIZE=$STREAMED
	[ "$SOURCE" = dir ] || return 0
	wait
	rc=$(cat "$TMP/tar.rc" 2>/dev/null)
	if ! is_uint "$rc" || [ "$rc" -ge 128 ]; then
		die "$EX_FILE" "tar stopped before the end of $FILE; the archive would be incomplete, so the upload was not finished"
	elif [ "$rc" = 1 ]; then
		warn "tar: some files changed while they were packed (see above); the archive has what tar read"
	elif [ "$rc" != 0 ]; then
		warn "tar reported errors (exit $rc, see above): some files may be missing from the archive"
	fi
}

# ---------------------------------------------------------------------------- file
if [ "$SOURCE" = file ]; then
	say "computing the SHA-256 of $FILE ($(human "$SIZE"))..."
	SHA=$(sha256_stdin <"$FILE") || die "$EX_FILE" "cannot read $FILE"
	printf '%s\n' "$SHA" | grep -Eq '^[0-9a-f]{64}$' || die "$EX_FILE" "cannot compute the SHA-256 of $FILE"
else
	SIZE=0
	start_stream
	read_chunk
	if [ "$STREAM_EOF" = 1 ]; then
		# All of it fits in one chunk: its length and SHA-256 are known, and it is sent
		# like a file (the server verifies the declared SHA-256).
		FILE=$TMP/chunk
	else
		DEFERRED=1
		SIZE=""
	fi
fi
SHA_B64=""
[ "$DEFERRED" = 1 ] || SHA_B64=$(printf '%s' "$SHA" | b64)

# ---------------------------------------------------------------------------- state
STATE_FILE=""
if [ "$SOURCE" != file ]; then
	STATE_DIR="" # a stream cannot be resumed by another run: no state
elif [ -n "${XDG_STATE_HOME:-}" ]; then
	STATE_DIR="$XDG_STATE_HOME/tuslog"
elif [ -n "${HOME:-}" ]; then
	STATE_DIR="$HOME/.local/state/tuslog"
else
	STATE_DIR=""
	warn "no state directory (set HOME or XDG_STATE_HOME): a rerun cannot resume this upload"
fi
if [ -n "$STATE_DIR" ]; then
	if (umask 077 && mkdir -p "$STATE_DIR") 2>/dev/null; then
		KEY=$(printf 'tuslog-upload-v1\n%s\n%s\n%s\n' "$ENDPOINT" "$TOKEN" "$SHA" | sha256_stdin)
		STATE_FILE="$STATE_DIR/$KEY.upload"
	else
		warn "cannot create $STATE_DIR: a rerun cannot resume this upload"
	fi
fi

save_state() {
	[ -n "$STATE_FILE" ] || return 0
	(
		umask 077
		{
			printf 'url=%s\n' "$UPLOAD_URL"
			printf 'endpoint=%s\n' "$ENDPOINT"
			printf 'sha256=%s\n' "$SHA"
			printf 'size=%s\n' "$SIZE"
			printf 'name=%s\n' "$NAME"
			printf 'created=%s\n' "$(now)"
		} >"$STATE_FILE.tmp" && mv -f "$STATE_FILE.tmp" "$STATE_FILE"
	) || warn "cannot write $STATE_FILE: a rerun cannot resume this upload"
}

drop_state() {
	[ -n "$STATE_FILE" ] && rm -f "$STATE_FILE"
}

UPLOAD_URL=""
if [ -n "$STATE_FILE" ] && [ -s "$STATE_FILE" ]; then
	UPLOAD_URL=$(sed -n 's/^url=//p' "$STATE_FILE" | head -n 1)
	case $UPLOAD_URL in
	http://* | https://*)
		RESUMING=1
		say "resuming the upload started earlier for this file and token"
		;;
	*) UPLOAD_URL="" ;;
	esac
fi

# ---------------------------------------------------------------------------- protocol
OFFSET=""       # the server's offset, "" when it must be asked for (HEAD)
BEST=0          # highest offset the server has confirmed in this run
UP_STATE=""     # Tuslog-Upload-State
SERVER_SHA=""   # Tuslog-Sha256
SERVER_LENGTH="" # Upload-Length, once the server knows it
TICKET=""       # Tuslog-Ticket
REASON=""       # why the last step failed (transient)
RETRY_AFTER=0
NO_WAIT=0
GONE_BEFORE=0   # an earlier upload of this run/state is gone from the server
CREATE_UNSURE=0 # a creation request may have reached the server without us seeing the answer

is_transient() {
	case $1 in
	408 | 409 | 423 | 429 | 5??) [ "$1" != 507 ] ;;
	*) return 1 ;;
	esac
}

transient_status() {
	msg=$(server_message)
	REASON="the server answered $HTTP_STATUS${msg:+: $msg}"
	ra=$(header_value Retry-After "$TMP/h")
	if is_uint "$ra"; then
		RETRY_AFTER=$ra
	fi
}

permanent() {
	code=$1
	shift
	msg=$(server_message)
	die "$code" "$*${msg:+ (server: $HTTP_STATUS $msg)}"
}

# The server's 401 text says what ours says: one of them is enough.
token_refused() {
	die "$EX_TOKEN" "token $TOKEN_HINT was refused (401): $*; ask support for a new token"
}

plain_http_url() {
	printf 'http://%s' "${BASE#https://}"
}

# A curl failure: TLS and address errors end the run; the others are retried. Before a
# tus server answered, a name that does not resolve, a server that speaks no HTTP or
# plain http end it too.
curl_failed() {
	case $CURL_RC in
	60 | 77 | 58 | 59 | 83 | 90 | 91) die "$EX_TLS" "$(curl_reason "$CURL_RC"): the server's TLS certificate is not trusted; use --cacert FILE with your CA certificate" ;;
	3) die "$EX_USAGE" "curl cannot use the address $ENDPOINT (malformed URL); check HOST (an IPv6 address goes in brackets: http://[::1]:8080)" ;;
	esac
	REASON=$(curl_reason "$CURL_RC")
	first_contact || return 0
	case $CURL_RC in
	6) die "$EX_PROTOCOL" "$REASON ($ORIGIN): check HOST and your network or proxy; nothing was uploaded" ;;
	1 | 8) die "$EX_PROTOCOL" "$ORIGIN does not answer as a web server ($REASON): check HOST and its port; nothing was uploaded" ;;
	35)
		case $BASE in https://*)
			if grep -Eqi 'wrong version number|packet length too long|record layer failure|unexpected TLS packet' "$TMP/e"; then
				die "$EX_PROTOCOL" "$REASON with $ORIGIN: the server seems to speak plain http, not https; if so, use $(plain_http_url)"
			fi
			REASON="$REASON (if the server speaks plain http, use $(plain_http_url))"
			;;
		esac
		;;
	esac
	return 0
}

# Every HTTP answer: one with Tus-Resumable comes from a tus server. Before the first
# such answer of this run (and with no upload to resume) anything else means HOST is
# not a tuslog server: said at once, except a gateway's 502-504 (retried briefly).
check_tus_answer() {
	if [ -n "$(header_value Tus-Resumable "$TMP/h")" ]; then
		CONTACTED=1
		return 0
	fi
	first_contact || return 0
	case $HTTP_STATUS in
	404) die "$EX_PROTOCOL" "no upload endpoint at $ENDPOINT (404): check HOST" ;;
	3??) die "$EX_PROTOCOL" "$ENDPOINT redirects to $(header_value Location "$TMP/h"); use that address as HOST" ;;
	502 | 503 | 504)
		REASON="$ORIGIN answered $HTTP_STATUS, but not as a tus server (a proxy whose server is down?)"
		return 1
		;;
	esac
	die "$EX_PROTOCOL" "$ORIGIN answered $HTTP_STATUS, but not as a tus server: check HOST (the address of the tuslog server, e.g. https://logs.example.com); nothing was uploaded"
}

read_upload_headers() {
	v=$(header_value Tuslog-Upload-State "$TMP/h")
	[ -n "$v" ] && UP_STATE=$v
	v=$(header_value Tuslog-Sha256 "$TMP/h")
	[ -n "$v" ] && SERVER_SHA=$v
	v=$(header_value Tuslog-Ticket "$TMP/h")
	[ -n "$v" ] && TICKET=$v
	v=$(header_value Upload-Length "$TMP/h")
	[ -n "$v" ] && SERVER_LENGTH=$v
	return 0
}

new_offset() {
	if [ "$1" -gt "$BEST" ]; then
		BEST=$1
		FAILS=0
	fi
	OFFSET=$1
}

upload_gone() {
	drop_state
	if [ "$DEFERRED" = 1 ] && [ "$CHUNK_BASE" -gt 0 ]; then
		die "$EX_GONE" "the upload is gone from the server (expired or removed) after $(human "$CHUNK_BASE"); $STREAM_LOST"
	fi
	say "the earlier upload is gone from the server (expired or removed); starting a new one"
	UPLOAD_URL=""
	OFFSET=""
	BEST=0
	GONE_BEFORE=1
}

step_create() {
	if [ "$DEFERRED" = 1 ]; then
		# Never sent by an earlier run; the random stream_id tells a repeated creation
		# (whose answer was lost) from a new one.
		stream_id=$(od -An -N16 -tx1 /dev/urandom 2>/dev/null | tr -d ' \n')
		[ -n "$stream_id" ] || stream_id="$(now)$$"
		http POST "$ENDPOINT" -H "Upload-Defer-Length: 1" \
			-H "Upload-Metadata: filename $NAME_B64,stream_id $(printf '%s' "$stream_id" | b64)" </dev/null
	else
		http POST "$ENDPOINT" -H "Upload-Length: $SIZE" \
			-H "Upload-Metadata: filename $NAME_B64,sha256 $SHA_B64" </dev/null
	fi
	read_result
	if [ "$HTTP_STATUS" = 000 ]; then
		case $CURL_RC in
		6 | 7 | 35) ;;
		*) CREATE_UNSURE=1 ;;
		esac
		curl_failed
		return 1
	fi
	check_tus_answer || return 1
	case $HTTP_STATUS in
	201)
		loc=$(header_value Location "$TMP/h")
		case $loc in
		http://* | https://*) UPLOAD_URL=$loc ;;
		/*) UPLOAD_URL="$ORIGIN$loc" ;;
		*) permanent "$EX_PROTOCOL" "the server created the upload but sent no usable Location" ;;
		esac
		save_state
		off=$(header_value Upload-Offset "$TMP/h")
		is_uint "$off" || off=0
		OFFSET=$off
		[ "$off" -gt "$BEST" ] && BEST=$off
		FAILS=0
		if [ "$DEFERRED" = 1 ]; then
			say "upload created; streaming $DISPLAY_NAME as \"$NAME\""
		else
			say "upload created; sending $(human "$SIZE")"
		fi
		return 0
		;;
	401 | 403)
		if [ "$GONE_BEFORE" = 1 ]; then
			die "$EX_GONE" "the earlier upload expired or was removed, and token $TOKEN_HINT allows no new upload (server: $HTTP_STATUS); ask support for a new token"
		elif [ "$CREATE_UNSURE" = 1 ]; then
			token_refused "an earlier attempt of this run whose answer was lost probably used it up"
		fi
		token_refused "unknown, expired, used up or revoked"
		;;
	413) permanent "$EX_TOO_LARGE" "$DISPLAY_NAME ($(human "${SIZE:-0}")) is larger than the server or this token accepts" ;;
	507) permanent "$EX_NO_SPACE" "the server has not enough free space for $(human "${SIZE:-0}") right now; try again later or ask support" ;;
	404) permanent "$EX_PROTOCOL" "no upload endpoint at $ENDPOINT; check HOST" ;;
	3??) permanent "$EX_PROTOCOL" "$ENDPOINT redirects to $(header_value Location "$TMP/h"); use that address as HOST" ;;
	esac
	if is_transient "$HTTP_STATUS"; then
		transient_status
		return 1
	fi
	permanent "$EX_PROTOCOL" "unexpected answer $HTTP_STATUS to creating the upload at $ENDPOINT"
}

step_head() {
	http HEAD "$UPLOAD_URL" </dev/null
	read_result
	if [ "$HTTP_STATUS" = 000 ]; then
		curl_failed
		return 1
	fi
	check_tus_answer || return 1
	case $HTTP_STATUS in
	200 | 204)
		off=$(header_value Upload-Offset "$TMP/h")
		len=$(header_value Upload-Length "$TMP/h")
		is_uint "$off" || permanent "$EX_PROTOCOL" "the server's answer about the upload has no Upload-Offset"
		if [ "$DEFERRED" = 1 ]; then
			check_stream_offset "$off" "$len"
		elif [ -n "$len" ] && [ "$len" != "$SIZE" ]; then
			permanent "$EX_PROTOCOL" "the server's upload has length $len, but $DISPLAY_NAME has $SIZE bytes"
		fi
		read_upload_headers
		new_offset "$off"
		return 0
		;;
	esac
	case $HTTP_STATUS in
	404 | 410) upload_gone; return 0 ;;
	401) token_refused "expired or revoked" ;;
	403) permanent "$EX_NOT_OWNER" "the upload in the state file belongs to another token" ;;
	esac
	if is_transient "$HTTP_STATUS"; then
		transient_status
		return 1
	fi
	permanent "$EX_PROTOCOL" "unexpected answer $HTTP_STATUS when asking for the upload's offset"
}

# The server's offset must lie within the chunk in flight: bytes before it are gone
# from this machine, and it cannot have more than was sent.
check_stream_offset() {
	end=$((CHUNK_BASE + CHUNK_LEN))
	if [ "$1" -lt "$CHUNK_BASE" ]; then
		die "$EX_PROTOCOL" "the server has only $1 bytes of the stream, but had confirmed $CHUNK_BASE; $STREAM_LOST"
	fi
	[ "$1" -le "$end" ] || die "$EX_PROTOCOL" "the server reports $1 bytes, but only $end were sent"
	if [ -n "$2" ] && { [ "$STREAM_EOF" = 0 ] || [ "$2" != "$end" ]; }; then
		die "$EX_PROTOCOL" "the server reports a length of $2 bytes for a stream that is not at its end"
	fi
}

# One PATCH: the next --chunk-size bytes of FILE, or the rest of the stream's chunk in
# flight (the last one declares the stream's length).
step_patch() {
	if [ "$DEFERRED" = 1 ]; then
		end=$((CHUNK_BASE + CHUNK_LEN))
		len=$((end - OFFSET))
		skip=$((OFFSET - CHUNK_BASE))
		set --
		# The last chunk declares the length (and the SHA-256, for a server that takes it).
		[ "$STREAM_EOF" = 1 ] && set -- -H "Upload-Length: $end" -H "Tuslog-Sha256: $SHA"
		src=$TMP/chunk
	else
		len=$((SIZE - OFFSET))
		if [ "$CHUNK" -gt 0 ] && [ "$len" -gt "$CHUNK" ]; then
			len=$CHUNK
		fi
		skip=$OFFSET
		set --
		src=$FILE
	fi
	show_progress "$OFFSET"
	tail -c +$((skip + 1)) "$src" 2>/dev/null | head -c "$len" |
		http PATCH "$UPLOAD_URL" -T - -H "Transfer-Encoding:" -H "Expect:" \
			-H "Content-Length: $len" -H "Upload-Offset: $OFFSET" \
			-H "Content-Type: application/offset+octet-stream" "$@"
	read_result
	sent_from=$OFFSET
	OFFSET=""
	if [ "$HTTP_STATUS" = 000 ]; then
		DRAWN=0
		curl_failed
		NO_WAIT=1
		return 1
	fi
	check_tus_answer || return 1
	case $HTTP_STATUS in
	200 | 204)
		[ "$TTY" = 1 ] && [ "$DEFERRED" = 0 ] && DRAWN=2 # our line and curl's bar
		off=$(header_value Upload-Offset "$TMP/h")
		is_uint "$off" || permanent "$EX_PROTOCOL" "the server's answer to a chunk has no Upload-Offset"
		read_upload_headers
		if [ "$off" -le "$sent_from" ] && [ "$len" -gt 0 ]; then
			REASON="the server accepted no bytes"
			return 1
		fi
		if [ "$DEFERRED" = 1 ] && [ "$STREAM_EOF" = 1 ] && [ "$off" = "$end" ] && [ "$SERVER_LENGTH" != "$end" ]; then
			permanent "$EX_PROTOCOL" "the server did not take the stream's length ($end bytes)"
		fi
		new_offset "$off"
		return 0
		;;
	esac
	DRAWN=0
	case $HTTP_STATUS in
	409) REASON="the server's offset moved"; NO_WAIT=1; return 1 ;;
	404 | 410) upload_gone; return 0 ;;
	401) token_refused "expired or revoked" ;;
	403) REASON="the server refused the chunk (403)"; return 1 ;; # already complete? HEAD decides
	413) permanent "$EX_TOO_LARGE" "$DISPLAY_NAME is larger than the server or this token accepts" ;;
	507) permanent "$EX_NO_SPACE" "the server has not enough free space; try again later or ask support" ;;
	460) REASON="the server found a checksum mismatch in the chunk"; return 1 ;;
	esac
	if is_transient "$HTTP_STATUS"; then
		transient_status
		return 1
	fi
	permanent "$EX_PROTOCOL" "unexpected answer $HTTP_STATUS to sending data"
}

FIRST_FAIL=0
LAST_QUIET_RETRY=0

wait_before_retry() {
	FAILS=$((FAILS + 1))
	delay=0
	if [ "$NO_WAIT" = 0 ] || [ "$FAILS" -gt 1 ]; then
		delay=1
		i=1
		while [ "$i" -lt "$FAILS" ] && [ "$delay" -lt "$MAX_BACKOFF" ]; do
			delay=$((delay * 2))
			i=$((i + 1))
		done
		[ "$delay" -gt "$MAX_BACKOFF" ] && delay=$MAX_BACKOFF
	fi
	if [ "$RETRY_AFTER" -gt "$delay" ]; then
		delay=$RETRY_AFTER
		[ "$delay" -gt "$MAX_RETRY_AFTER" ] && delay=$MAX_RETRY_AFTER
	fi
	NO_WAIT=0
	RETRY_AFTER=0
	if first_contact; then
		[ "$FIRST_FAIL" = 0 ] && FIRST_FAIL=$(now)
		[ "$delay" -gt "$FIRST_CONTACT_BACKOFF" ] && delay=$FIRST_CONTACT_BACKOFF
		if [ "$FAILS" -gt "$RETRIES" ] || [ $(($(now) - FIRST_FAIL + delay)) -gt "$FIRST_CONTACT_LIMIT" ]; then
			die "$EX_PROTOCOL" "cannot reach the server at $ORIGIN: $REASON. Check HOST (and its port), your network or proxy; nothing was uploaded"
		fi
	elif [ "$FAILS" -gt "$RETRIES" ]; then
		if [ "$DEFERRED" = 1 ]; then
			die "$EX_RETRIES" "giving up after $RETRIES attempts without progress: $REASON. $STREAM_LOST"
		fi
		die "$EX_RETRIES" "giving up after $RETRIES attempts without progress: $REASON. Run the same command again to resume from $(where_at)"
	fi
	if [ "$delay" -gt 0 ]; then
		when="retrying in ${delay}s (attempt $FAILS of $RETRIES)"
	else
		when="resuming"
	fi
	line="$REASON at $(where_at); $when"
	if [ "$QUIET" = 0 ]; then
		undraw_keep
		printf '%s: %s\n' "$PROG" "$line" >&2
	elif [ $(($(now) - LAST_QUIET_RETRY)) -ge "$QUIET_RETRY_EVERY" ]; then
		# Quiet, but never silent for long about why nothing finishes.
		LAST_QUIET_RETRY=$(now)
		printf '%s: %s\n' "$PROG" "$line" >&2
	fi
	[ "$delay" -gt 0 ] && sleep "$delay"
	return 0
}

# ---------------------------------------------------------------------------- main loop
FAILS=0
RATE_BASE=0
STARTED=$(now)
if [ "$DEFERRED" = 1 ]; then
	say "uploading $DISPLAY_NAME as \"$NAME\" (length unknown until its end) to $ORIGIN with token $TOKEN_HINT"
else
	say "uploading \"$NAME\" ($(human "$SIZE")) to $ORIGIN with token $TOKEN_HINT"
fi
while :; do
	if [ -z "$UPLOAD_URL" ]; then
		step_create || { wait_before_retry; continue; }
	elif [ -z "$OFFSET" ]; then
		step_head || { wait_before_retry; continue; }
	elif [ "$DEFERRED" = 1 ] && [ "$OFFSET" -ge $((CHUNK_BASE + CHUNK_LEN)) ] && [ "$STREAM_EOF" = 0 ]; then
		# The server has the chunk: the next one takes its place.
		CHUNK_BASE=$((CHUNK_BASE + CHUNK_LEN))
		read_chunk
		show_progress "$OFFSET"
	elif [ "$DEFERRED" = 1 ] && [ "$OFFSET" -ge $((CHUNK_BASE + CHUNK_LEN)) ] && [ "$SERVER_LENGTH" = "$OFFSET" ]; then
		break
	elif [ "$DEFERRED" = 0 ] && [ "$OFFSET" -ge "$SIZE" ]; then
		break
	else
		if [ "$RATE_BASE" = 0 ]; then
			# Speed and time left count from the first offset of this run.
			RATE_BASE=1
			START_OFFSET=$OFFSET
			STARTED=$(now)
		fi
		step_patch || { wait_before_retry; continue; }
	fi
done

# ---------------------------------------------------------------------------- completion
# The server has all bytes. Ask it once more (HEAD) for its verdict. A server that has to
# read the file again to hash it says "verifying": wait as long as that may take (a
# minute, plus the file read at 100 MB/s).
polls=0
verify_deadline=$(($(now) + 60 + SIZE / 100000000))
told=""
while :; do
	case $UP_STATE in
	verified | corrupt) break ;;
	complete) [ -n "$SERVER_SHA" ] && break ;;
	esac
	if [ "$UP_STATE" = verifying ]; then
		[ "$(now)" -gt "$verify_deadline" ] && break
		[ -n "$told" ] || say "all bytes arrived; the server is checking the SHA-256 of the file..."
		told=1
	elif [ "$polls" -ge 10 ]; then
		break
	fi
	if [ "$polls" -gt 20 ]; then
		sleep 5
	elif [ "$polls" -gt 0 ]; then
		sleep 1
	fi
	polls=$((polls + 1))
	step_head || continue
	[ -n "$UPLOAD_URL" ] || die "$EX_GONE" "the upload vanished from the server right after it completed; ask support"
done

show_progress "$SIZE" sent
VERDICT=""
case $UP_STATE in
verifying) die "$EX_RETRIES" "all bytes arrived but the server is still checking the file; run the same command again later for the receipt (nothing is sent again)" ;;
corrupt) VERDICT=corrupt ;;
verified) VERDICT=verified ;;
complete | "")
	# The server computed the SHA-256 of what it stored but had none to check it against
	# (a stream): the uploader compares it with the SHA-256 of what it sent.
	if [ -n "$SERVER_SHA" ] && [ "$SERVER_SHA" = "$SHA" ]; then
		VERDICT="sha256 matched (the server's SHA-256 of what it stored equals the one computed while sending)"
	elif [ -n "$SERVER_SHA" ]; then
		VERDICT=corrupt
	else
		VERDICT="complete (the server reported no SHA-256)"
	fi
	;;
*) die "$EX_PROTOCOL" "the server has all bytes but reports the upload as '$UP_STATE'" ;;
esac

if [ "$VERDICT" != corrupt ]; then
	say "upload complete: the server confirmed all $SIZE bytes"
fi
printf 'ticket:   %s\n' "${TICKET:-unknown}"
printf 'file:     %s\n' "$NAME"
[ "$SOURCE" = file ] || printf 'source:   %s\n' "$DISPLAY_NAME"
printf 'size:     %s bytes (%s)\n' "$SIZE" "$(human "$SIZE")"
printf 'sha256:   %s\n' "$SHA"
printf 'server:   %s\n' "$VERDICT"
printf 'upload:   %s\n' "$UPLOAD_URL"

if [ "$VERDICT" = corrupt ]; then
	die "$EX_CORRUPT" "the server's SHA-256 (${SERVER_SHA:-unknown}) does not match $DISPLAY_NAME; did it change while uploading? Tell support"
fi
exit "$EX_OK"
