#!/bin/sh
# tuslog uploader (POSIX sh + curl): resumable upload of one file to a tuslog server.
#
#   curl -fsSLO https://HOST/uploader.sh && sh uploader.sh HOST TOKEN FILE
#
# Run `sh uploader.sh --help` for options, resuming and exit codes.
# Needs: curl, and sha256sum, shasum or openssl; otherwise only standard POSIX tools.

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

usage() {
	cat <<'EOF'
Usage: sh uploader.sh [OPTIONS] DOMAIN TOKEN FILE

Upload FILE to the tuslog server at DOMAIN with the upload TOKEN that support gave
you. The upload survives dropped connections: it resumes where the server stopped
receiving, both within one run and when you run the same command again (after a
crash, Ctrl-C or a reboot). Rerunning never costs another use of the token.

  DOMAIN   host, host:port or a base URL (https://logs.example.com); https is
           used when no scheme is given
  TOKEN    the upload token (tlu_...); "-" reads it from standard input, which
           keeps it out of the process list and your shell history
  FILE     the file to send (a regular file, e.g. a .tar.gz of your logs)

Options:
  --chunk-size SIZE  bytes per request, e.g. 8M, 64M, 1G (default 16M); 0 sends
                     the rest of the file in one request
  --retries N        give up after N failed attempts in a row that brought no
                     progress (default 10; waits 1, 2, 4 ... 60 s between them,
                     about 5 minutes in all). Any progress resets the count.
  --timeout SECONDS  treat a connection as dead when no data moves for this long
                     (default 60)
  --cacert FILE      trust the CA certificate(s) in FILE (PEM) for the server
  --insecure         do not check the server's TLS certificate (dangerous: only
                     for a test server; the token and logs could be intercepted)
  --quiet            no progress output; errors and the final receipt still print
  --help             show this help and exit
  --version          show the version and exit

Proxies: curl honours https_proxy / HTTPS_PROXY, http_proxy (lower case only),
ALL_PROXY and NO_PROXY.

Resuming: the upload address is kept in a small state file (mode 0600) under
${XDG_STATE_HOME:-$HOME/.local/state}/tuslog/, named by a hash of the server, the
token and the file's SHA-256 (the token itself is not stored). The same file can
be resumed with uploader.py as well.

On success the server has confirmed every byte and the receipt on standard output
shows the ticket, file, size, SHA-256 and the server's verification result.

Exit codes (the same for uploader.py):
   0  upload complete, confirmed by the server (SHA-256 verified when it says so)
   1  unexpected internal error (please report it)
   2  bad usage: unknown option, missing argument, malformed token or DOMAIN
   3  a required tool is missing (curl; sha256sum, shasum or openssl)
   4  FILE is missing, not a regular file or not readable
   5  token refused (401): unknown, expired, used up or revoked; ask support
   6  this upload belongs to another token (403)
   7  the earlier upload expired or was removed on the server, and the token
      allows no new upload; ask support for a new token
   8  file too large for the server or the token's quota (413)
   9  the server has not enough free space (507); try later or ask support
  10  gave up after --retries attempts without progress (network or server
      trouble), or the server was still checking the file; run the same
      command again to resume
  11  the server's SHA-256 of the upload does not match FILE (corrupt; did the
      file change while uploading?)
  12  TLS problem: the server's certificate is not trusted (see --cacert)
  13  unexpected answer from the server (wrong DOMAIN? not a tuslog server?)
 130  interrupted (Ctrl-C); run the same command again to resume
 143  terminated (SIGTERM); run the same command again to resume
EOF
}

# ---------------------------------------------------------------------------- output
QUIET=0
TTY=0
DRAWN=0

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

# The terminal display is two lines (our status line and curl's bar); before anything
# else is printed they are kept as they are, and the next status starts below them.
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

# Shown on a terminal before every request of the upload, redrawn in place.
STARTED=0
START_OFFSET=0
LAST_LINE_TIME=0
LAST_LINE_PCT=-100

status_line() {
	off=$1
	pct=$(percent "$off" "$SIZE")
	elapsed=$(($(now) - STARTED))
	sent=$((off - START_OFFSET))
	rate=""
	if [ "$elapsed" -gt 0 ] && [ "$sent" -gt 0 ]; then
		bps=$((sent / elapsed))
		left=$(((SIZE - off) / (bps + 1)))
		rate=", $(human "$bps")/s"
		[ "$off" -lt "$SIZE" ] && rate="$rate, about $((left / 60))m$((left % 60))s left"
	fi
	printf '%s%% (%s of %s%s)' "$pct" "$(human "$off")" "$(human "$SIZE")" "$rate"
}

show_progress() {
	[ "$QUIET" = 1 ] && return 0
	if [ "$TTY" = 1 ]; then
		if [ "$DRAWN" = 1 ]; then
			printf '\033[2A\033[J' >&2
		fi
		printf '%s: %s %s\n' "$PROG" "${2:-sending}" "$(status_line "$1")" >&2
		return 0
	fi
	# Not a terminal: a plain line per 5 % or per 30 s, whichever comes first.
	t=$(now)
	p=$(awk -v a="$1" -v b="$SIZE" 'BEGIN { if (b <= 0) print 100; else printf "%d", 100 * a / b }')
	if [ $((p - LAST_LINE_PCT)) -ge 5 ] || [ $((t - LAST_LINE_TIME)) -ge 30 ]; then
		printf '%s: %s\n' "$PROG" "$(status_line "$1")" >&2
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
		head -n 1 "$TMP/b" | tr -d '\r' | LC_ALL=C tr -c '[:print:]' ' ' | cut -c 1-200
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
	detail=""
	if [ -s "$TMP/e" ]; then
		detail=$(grep 'curl: (' "$TMP/e" | tail -n 1 | tr -d '\r\n' | LC_ALL=C tr -c '[:print:]' ' ' | cut -c 1-160)
	fi
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
DOMAIN=""
TOKEN=""
FILE=""
NPOS=0

need_value() {
	[ "$2" -ge 2 ] || die "$EX_USAGE" "option $1 needs a value (see --help)"
}

positional() {
	NPOS=$((NPOS + 1))
	case $NPOS in
	1) DOMAIN=$1 ;;
	2) TOKEN=$1 ;;
	3) FILE=$1 ;;
	*) die "$EX_USAGE" "too many arguments: expected DOMAIN TOKEN FILE (see --help)" ;;
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
	--chunk-size | --retries | --timeout | --cacert)
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
		esac
		;;
	--) shift; while [ $# -gt 0 ]; do positional "$1"; shift; done; break ;;
	-?*) die "$EX_USAGE" "unknown option: $opt (see --help)" ;;
	*) positional "$opt" ;;
	esac
	shift
done

[ "$NPOS" -eq 3 ] || die "$EX_USAGE" "expected DOMAIN TOKEN FILE (see --help)"

[ -t 2 ] && TTY=1

# ---------------------------------------------------------------------------- checks
have curl || die "$EX_MISSING" "curl is required: install it with your package manager"
have sha256sum || have shasum || have openssl ||
	die "$EX_MISSING" "need sha256sum, shasum or openssl to compute the file's SHA-256"
have base64 || have openssl || die "$EX_MISSING" "need base64 or openssl"

if [ "$TOKEN" = "-" ]; then
	IFS= read -r TOKEN || true
fi
TOKEN=$(printf '%s' "$TOKEN" | tr -d ' \t\r\n"')
if ! printf '%s\n' "$TOKEN" | grep -Eq '^tlu_[a-z2-7]{8}_[A-Za-z0-9_-]{43}$'; then
	die "$EX_USAGE" "TOKEN does not look like an upload token (tlu_xxxxxxxx_...); copy it again from the message support sent you"
fi
TOKEN_HINT="$(printf '%s' "$TOKEN" | cut -c 1-12)..."

case $DOMAIN in
*[[:space:]\"\'\\]* | '') die "$EX_USAGE" "DOMAIN is not a host name or URL: $DOMAIN" ;;
http://* | https://*) BASE=$DOMAIN ;;
*://*) die "$EX_USAGE" "DOMAIN must use https:// or http://: $DOMAIN" ;;
*) BASE="https://$DOMAIN" ;;
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

[ -e "$FILE" ] || die "$EX_FILE" "file not found: $FILE"
[ -d "$FILE" ] && die "$EX_FILE" "$FILE is a directory; pack it first, e.g. tar czf logs.tar.gz $FILE"
[ -f "$FILE" ] || die "$EX_FILE" "not a regular file: $FILE"
[ -r "$FILE" ] || die "$EX_FILE" "cannot read $FILE (permission denied?)"

SIZE=$(wc -c <"$FILE" 2>/dev/null | tr -d ' \t\n') || SIZE=""
is_uint "$SIZE" || die "$EX_FILE" "cannot read $FILE"

[ "$INSECURE" = 1 ] &&
	warn "--insecure: the server's TLS certificate is NOT checked; anyone on the path could read your logs and token"

# ---------------------------------------------------------------------------- work area
TMP=$(umask 077 && mktemp -d "${TMPDIR:-/tmp}/tuslog-upload.XXXXXX") ||
	die "$EX_MISSING" "cannot create a temporary directory"
# shellcheck disable=SC2329 # invoked by trap
cleanup() {
	rm -rf "$TMP"
}
# shellcheck disable=SC2329 # invoked by trap
on_signal() {
	cleanup
	trap - EXIT
	printf '\n%s: %s at %s%%; run the same command again to resume\n' "$PROG" "$1" \
		"$(percent "${BEST:-0}" "$SIZE")" >&2
	exit "$2"
}
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
	set -- -K "$TMP/auth" --connect-timeout "$TIMEOUT" --speed-limit 1 --speed-time "$TIMEOUT" \
		-A "tuslog-uploader.sh/$VERSION curl/$CURL_VERSION" "$@"
	[ "$HTTP11" = 1 ] && set -- --http1.1 "$@"
	[ -n "$CACERT" ] && set -- --cacert "$CACERT" "$@"
	[ "$INSECURE" = 1 ] && set -- -k "$@"
	set -- -q "$@" # first: ignore the user's ~/.curlrc
	if [ "$method" = PATCH ] && [ "$TTY" = 1 ] && [ "$QUIET" = 0 ]; then
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

# ---------------------------------------------------------------------------- file
say "computing the SHA-256 of $FILE ($(human "$SIZE"))..."
SHA=$(sha256_stdin <"$FILE") || die "$EX_FILE" "cannot read $FILE"
printf '%s\n' "$SHA" | grep -Eq '^[0-9a-f]{64}$' || die "$EX_FILE" "cannot compute the SHA-256 of $FILE"

NAME=$(basename -- "$FILE" | LC_ALL=C tr -d '\000-\037\177')
if have iconv; then
	NAME=$(printf '%s\n' "$NAME" | LC_ALL=C cut -b 1-255 | iconv -c -f UTF-8 -t UTF-8 2>/dev/null)
fi
[ -n "$NAME" ] || NAME=upload
NAME_B64=$(printf '%s' "$NAME" | b64)
SHA_B64=$(printf '%s' "$SHA" | b64)

# ---------------------------------------------------------------------------- state
STATE_FILE=""
if [ -n "${XDG_STATE_HOME:-}" ]; then
	STATE_DIR="$XDG_STATE_HOME/tuslog"
elif [ -n "${HOME:-}" ]; then
	STATE_DIR="$HOME/.local/state/tuslog"
else
	STATE_DIR=""
fi
if [ -n "$STATE_DIR" ] && (umask 077 && mkdir -p "$STATE_DIR") 2>/dev/null; then
	KEY=$(printf 'tuslog-upload-v1\n%s\n%s\n%s\n' "$ENDPOINT" "$TOKEN" "$SHA" | sha256_stdin)
	STATE_FILE="$STATE_DIR/$KEY.upload"
else
	warn "no state directory (set HOME or XDG_STATE_HOME): a rerun cannot resume this upload"
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
	http://* | https://*) say "resuming the upload started earlier for this file and token" ;;
	*) UPLOAD_URL="" ;;
	esac
fi

# ---------------------------------------------------------------------------- protocol
OFFSET=""       # the server's offset, "" when it must be asked for (HEAD)
BEST=0          # highest offset the server has confirmed in this run
UP_STATE=""     # Tuslog-Upload-State
SERVER_SHA=""   # Tuslog-Sha256
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

read_upload_headers() {
	v=$(header_value Tuslog-Upload-State "$TMP/h")
	[ -n "$v" ] && UP_STATE=$v
	v=$(header_value Tuslog-Sha256 "$TMP/h")
	[ -n "$v" ] && SERVER_SHA=$v
	v=$(header_value Tuslog-Ticket "$TMP/h")
	[ -n "$v" ] && TICKET=$v
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
	say "the earlier upload is gone from the server (expired or removed); starting a new one"
	UPLOAD_URL=""
	OFFSET=""
	BEST=0
	GONE_BEFORE=1
}

step_create() {
	http POST "$ENDPOINT" -H "Upload-Length: $SIZE" \
		-H "Upload-Metadata: filename $NAME_B64,sha256 $SHA_B64" </dev/null
	read_result
	case $HTTP_STATUS in
	000)
		case $CURL_RC in
		6 | 7) ;;
		3) die "$EX_USAGE" "curl cannot use the address $ENDPOINT (malformed URL); check DOMAIN (an IPv6 address goes in brackets: http://[::1]:8080)" ;;
		60 | 77 | 58 | 59 | 83 | 90 | 91) die "$EX_TLS" "$(curl_reason "$CURL_RC"): the server's TLS certificate is not trusted; use --cacert FILE with your CA certificate" ;;
		*) CREATE_UNSURE=1 ;;
		esac
		if [ "$CURL_RC" = 6 ] && [ "$BEST" = 0 ] && [ "$CONTACTED" = 0 ]; then
			die "$EX_RETRIES" "$(curl_reason "$CURL_RC") ($ORIGIN): check DOMAIN and your network or proxy"
		fi
		REASON=$(curl_reason "$CURL_RC")
		return 1
		;;
	201)
		CONTACTED=1
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
		say "upload created; sending $(human "$SIZE")"
		return 0
		;;
	esac
	CONTACTED=1
	case $HTTP_STATUS in
	401 | 403)
		if [ "$GONE_BEFORE" = 1 ]; then
			permanent "$EX_GONE" "the earlier upload expired or was removed, and token $TOKEN_HINT allows no new upload; ask support for a new token"
		elif [ "$CREATE_UNSURE" = 1 ]; then
			permanent "$EX_TOKEN" "token $TOKEN_HINT was refused; an earlier attempt of this run whose answer was lost probably used it up; ask support for a new token"
		fi
		permanent "$EX_TOKEN" "token $TOKEN_HINT was refused: unknown, expired, used up or revoked; ask support for a new token"
		;;
	413) permanent "$EX_TOO_LARGE" "$FILE ($(human "$SIZE")) is larger than the server or this token accepts" ;;
	507) permanent "$EX_NO_SPACE" "the server has not enough free space for $(human "$SIZE") right now; try again later or ask support" ;;
	404) permanent "$EX_PROTOCOL" "no upload endpoint at $ENDPOINT; check DOMAIN" ;;
	3??) permanent "$EX_PROTOCOL" "$ENDPOINT redirects to $(header_value Location "$TMP/h"); use that address as DOMAIN" ;;
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
	case $HTTP_STATUS in
	000)
		case $CURL_RC in
		60 | 77 | 58 | 59 | 83 | 90 | 91) die "$EX_TLS" "$(curl_reason "$CURL_RC"): the server's TLS certificate is not trusted; use --cacert FILE" ;;
		esac
		REASON=$(curl_reason "$CURL_RC")
		return 1
		;;
	200 | 204)
		CONTACTED=1
		off=$(header_value Upload-Offset "$TMP/h")
		len=$(header_value Upload-Length "$TMP/h")
		is_uint "$off" || permanent "$EX_PROTOCOL" "the server's answer about the upload has no Upload-Offset"
		if [ -n "$len" ] && [ "$len" != "$SIZE" ]; then
			permanent "$EX_PROTOCOL" "the server's upload has length $len, but $FILE has $SIZE bytes"
		fi
		read_upload_headers
		new_offset "$off"
		return 0
		;;
	esac
	CONTACTED=1
	case $HTTP_STATUS in
	404 | 410) upload_gone; return 0 ;;
	401) permanent "$EX_TOKEN" "token $TOKEN_HINT was refused: expired or revoked; ask support for a new token" ;;
	403) permanent "$EX_NOT_OWNER" "the upload in the state file belongs to another token" ;;
	esac
	if is_transient "$HTTP_STATUS"; then
		transient_status
		return 1
	fi
	permanent "$EX_PROTOCOL" "unexpected answer $HTTP_STATUS when asking for the upload's offset"
}

step_patch() {
	len=$((SIZE - OFFSET))
	if [ "$CHUNK" -gt 0 ] && [ "$len" -gt "$CHUNK" ]; then
		len=$CHUNK
	fi
	show_progress "$OFFSET"
	tail -c +$((OFFSET + 1)) "$FILE" 2>/dev/null | head -c "$len" |
		http PATCH "$UPLOAD_URL" -T - -H "Transfer-Encoding:" -H "Expect:" \
			-H "Content-Length: $len" -H "Upload-Offset: $OFFSET" \
			-H "Content-Type: application/offset+octet-stream"
	read_result
	sent_from=$OFFSET
	OFFSET=""
	case $HTTP_STATUS in
	000)
		DRAWN=0
		case $CURL_RC in
		60 | 77 | 58 | 59 | 83 | 90 | 91) die "$EX_TLS" "$(curl_reason "$CURL_RC"): the server's TLS certificate is not trusted; use --cacert FILE" ;;
		esac
		REASON=$(curl_reason "$CURL_RC")
		NO_WAIT=1
		return 1
		;;
	200 | 204)
		[ "$TTY" = 1 ] && DRAWN=1
		off=$(header_value Upload-Offset "$TMP/h")
		is_uint "$off" || permanent "$EX_PROTOCOL" "the server's answer to a chunk has no Upload-Offset"
		read_upload_headers
		if [ "$off" -le "$sent_from" ] && [ "$len" -gt 0 ]; then
			REASON="the server accepted no bytes"
			return 1
		fi
		new_offset "$off"
		return 0
		;;
	esac
	DRAWN=0
	case $HTTP_STATUS in
	409) REASON="the server's offset moved"; NO_WAIT=1; return 1 ;;
	404 | 410) upload_gone; return 0 ;;
	401) permanent "$EX_TOKEN" "token $TOKEN_HINT was refused: expired or revoked; ask support for a new token" ;;
	403) REASON="the server refused the chunk (403)"; return 1 ;; # already complete? HEAD decides
	413) permanent "$EX_TOO_LARGE" "$FILE is larger than the server or this token accepts" ;;
	507) permanent "$EX_NO_SPACE" "the server has not enough free space; try again later or ask support" ;;
	460) REASON="the server found a checksum mismatch in the chunk"; return 1 ;;
	esac
	if is_transient "$HTTP_STATUS"; then
		transient_status
		return 1
	fi
	permanent "$EX_PROTOCOL" "unexpected answer $HTTP_STATUS to sending data"
}

wait_before_retry() {
	FAILS=$((FAILS + 1))
	if [ "$FAILS" -gt "$RETRIES" ]; then
		die "$EX_RETRIES" "giving up after $RETRIES attempts without progress: $REASON. Run the same command again to resume from $(percent "$BEST" "$SIZE")%"
	fi
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
	if [ "$QUIET" = 0 ]; then
		undraw_keep
		if [ "$delay" -gt 0 ]; then
			when="retrying in ${delay}s (attempt $FAILS of $RETRIES)"
		else
			when="resuming"
		fi
		printf '%s: %s at %s%%; %s\n' "$PROG" "$REASON" "$(percent "$BEST" "$SIZE")" "$when" >&2
	fi
	[ "$delay" -gt 0 ] && sleep "$delay"
	return 0
}

# ---------------------------------------------------------------------------- main loop
FAILS=0
CONTACTED=0
RATE_BASE=0
STARTED=$(now)
say "uploading \"$NAME\" ($(human "$SIZE")) to $ORIGIN with token $TOKEN_HINT"
while :; do
	if [ -z "$UPLOAD_URL" ]; then
		step_create || { wait_before_retry; continue; }
	elif [ -z "$OFFSET" ]; then
		step_head || { wait_before_retry; continue; }
	elif [ "$OFFSET" -ge "$SIZE" ]; then
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
	if [ -n "$SERVER_SHA" ] && [ "$SERVER_SHA" = "$SHA" ]; then
		VERDICT=verified
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
printf 'size:     %s bytes (%s)\n' "$SIZE" "$(human "$SIZE")"
printf 'sha256:   %s\n' "$SHA"
printf 'server:   %s\n' "$VERDICT"
printf 'upload:   %s\n' "$UPLOAD_URL"

if [ "$VERDICT" = corrupt ]; then
	die "$EX_CORRUPT" "the server's SHA-256 (${SERVER_SHA:-unknown}) does not match $FILE; did the file change while uploading? Tell support"
fi
exit "$EX_OK"
