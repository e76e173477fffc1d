"""English: the reference catalogue. Every other language has exactly these keys and the
same ``{placeholders}`` (a test checks). Keys starting with ``js.`` are used by the upload
script; the others by the templates."""

MESSAGES: dict[str, str] = {
    "language.name": "English",
    "nav.skip": "Skip to content",
    "nav.language": "Language",
    "upload.title": "Upload a file for support",
    "upload.lead": (
        "Send a file, for example an archive of log files, to our support team. The upload "
        "survives a dropped connection, and if this page closes, open it again and pick the "
        "same file: it continues where it stopped."
    ),
    "upload.noscript": (
        "This page needs JavaScript. Without it, use one of the command-line uploaders below."
    ),
    "token.label": "Upload token",
    "token.help": (
        "Support sent you this token; it starts with tlu_. It is only sent to this server."
    ),
    "js.token.from_link": "{prefix}… (from your link)",
    "token.change": "Use another token",
    "file.legend": "File",
    "file.drop": "Drag and drop your file here",
    "file.or": "or",
    "file.label": "Choose a file",
    "file.help": (
        "One file. To send several files or a folder, pack them into one archive first "
        "(zip, tar.gz)."
    ),
    "start.button": "Start upload",
    "cli.title": "Uploading from a server?",
    "cli.text": ("The command-line uploaders do the same from a shell, also for very large files:"),
    "js.token.missing": "Enter the upload token from support.",
    "js.token.format": (
        "This does not look like an upload token. It starts with tlu_ and is about 56 "
        "characters long; copy it again from the message from support."
    ),
    "js.file.missing": "Choose the file to upload.",
    "js.file.empty": "This file is empty (0 bytes). Pick the archive that holds the logs.",
    "js.file.many": (
        "Drop one file only. To send several files, pack them into one archive first."
    ),
    "js.file.selected": "{name} ({size})",
    "js.file.resume": "Part of this file was uploaded before ({percent}); it continues from there.",
    "js.file.pending": (
        "An upload from this browser is not finished: {name} ({size}, {percent} sent). "
        "Pick the same file to continue it."
    ),
    "js.continue.button": "Continue upload",
    "js.pause.button": "Pause",
    "js.resume.button": "Resume",
    "js.retry_now.button": "Retry now",
    "js.retry.button": "Try again",
    "js.restart.button": "Start again",
    "js.again.button": "Upload another file",
    "js.copy.button": "Copy receipt",
    "js.copied": "Receipt copied.",
    "js.progress.label": "Upload progress",
    "js.progress.sent": "{sent} of {total} ({percent})",
    "js.progress.rate": "{speed}, about {time} left",
    "js.announce.progress": "{percent} uploaded",
    "js.status.hashing": "Computing the file's SHA-256, so that the server can check it…",
    "js.status.connecting": "Connecting to the server…",
    "js.status.uploading": "Uploading {name}…",
    "js.status.paused": (
        "Paused. Nothing is lost: press Resume, or come back later and pick the same file."
    ),
    "js.status.retrying": "Connection lost. Retrying in {seconds} s (attempt {attempt} of {max}).",
    "js.status.busy": ("The server is busy. Retrying in {seconds} s (attempt {attempt} of {max})."),
    "js.status.offline": "Your device is offline. The upload continues when it is back online.",
    "js.status.verifying": "All bytes arrived. The server is checking the file…",
    "js.receipt.title": "Upload complete",
    "js.receipt.keep": "Keep this receipt; support may ask for it.",
    "js.receipt.file": "File",
    "js.receipt.size": "Size",
    "js.receipt.sha256": "SHA-256",
    "js.receipt.ticket": "Ticket",
    "js.receipt.finished": "Finished",
    "js.receipt.check": "Check",
    "js.receipt.verified": (
        "Verified: the server received exactly the file you picked (the SHA-256 computed in "
        "your browser matches)."
    ),
    "js.receipt.unverified": (
        "The server computed this SHA-256. To compare it with your file, run "
        "sha256sum FILE (Linux), shasum -a 256 FILE (macOS) or "
        "certutil -hashfile FILE SHA256 (Windows)."
    ),
    "js.bytes": "{count} bytes",
    "js.error.title": "The upload stopped",
    "js.error.token": (
        "The upload token was not accepted: it is unknown, expired, used up or revoked. "
        "Ask support for a new token."
    ),
    "js.error.owner": (
        "This upload was started with another upload token. Use the token it was started "
        "with, or ask support for a new one."
    ),
    "js.error.gone": (
        "The unfinished upload of this file expired on the server or was removed. Start "
        "it again; this uses the token once more."
    ),
    "js.error.too_large": (
        "The file is larger than the server or your upload token allows. Ask support."
    ),
    "js.error.no_space": (
        "The server does not have enough free space for this file right now. Try again "
        "later, or tell support."
    ),
    "js.error.network": (
        "The server could not be reached for several minutes. Nothing is lost: press Try "
        "again, or open this page later and pick the same file."
    ),
    "js.error.corrupt": (
        "The server received a file whose SHA-256 does not match the file you picked. Did "
        "it change while it was uploading? Tell support, and upload a copy that is not being "
        "written to."
    ),
    "js.error.unreadable": (
        "The file could not be read. It may have been changed, moved or deleted; pick it again."
    ),
    "js.error.server": (
        "The server answered with an unexpected error ({status}). Try again; if it keeps "
        "happening, tell support."
    ),
    "js.warn.storage": (
        "Your browser does not let this page remember the upload, so after a reload it "
        "starts again from the beginning. Keep this page open until the upload is done."
    ),
}
