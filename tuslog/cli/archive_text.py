"""How ``tuslog upload ls|cat|grep`` show what they found: text for people (numbered
lines, ``grep -n`` style matches) and dictionaries for ``--json``."""

from datetime import UTC, datetime
from typing import Any

from tuslog.archives import Entry, Hit, Line, Page, Preview
from tuslog.cli.output import table
from tuslog.units import format_size
from tuslog.uploads.manifests import ManifestStatus


def _when(mtime: int | None) -> str:
    if mtime is None:
        return ""
    try:
        return datetime.fromtimestamp(mtime, UTC).strftime("%Y-%m-%d %H:%M")
    except (OverflowError, OSError, ValueError):
        return "?"


def entry_dict(entry: Entry) -> dict[str, Any]:
    return {
        "index": entry.index,
        "path": entry.path,
        "type": entry.type.value,
        "size": entry.size,
        "mtime": entry.mtime,
        "link": entry.link,
        "flags": entry.flags,
    }


_NOTES = {"u": "unsafe path", "c": "name cut", "x": "content unreadable"}


def ls_text(status: ManifestStatus, entries: list[Entry]) -> str:
    counts = status.counts
    header = (
        f"{status.filename or status.upload_id}: {status.format}, "
        f"{counts.get('entries', 0):,} entries, {format_size(counts.get('total_size', 0))}"
    )
    rows = []
    for entry in entries:
        name = entry.path + (f" -> {entry.link}" if entry.link is not None else "")
        notes = [note for flag, note in _NOTES.items() if flag in entry.flags]
        name += f"  ({', '.join(notes)})" if notes else ""
        size = format_size(entry.size) if entry.type.value == "file" else ""
        rows.append([f"#{entry.index}", entry.type.value, size, _when(entry.mtime), name])
    return header + "\n" + table(rows, ["ENTRY", "TYPE", "SIZE", "MODIFIED (UTC)", "PATH"])


def _numbered(lines: list[Line]) -> list[str]:
    return [f"{line.number:>6}  {line.text}" for line in lines]


def lines_json(lines: list[Line]) -> list[dict[str, Any]]:
    return [{"number": line.number, "text": line.text} for line in lines]


def preview_dict(preview: Preview) -> dict[str, Any]:
    return {
        "index": preview.index,
        "path": preview.path,
        "binary": preview.binary,
        "encoding": preview.encoding,
        "compression": preview.compression,
        "total_lines": preview.total_lines,
        "head": lines_json(preview.head),
        "tail": lines_json(preview.tail),
        "problem": preview.problem,
    }


def preview_text(preview: Preview) -> str:
    lines = _numbered(preview.head)
    if preview.tail:
        first = (preview.head[-1].number + 1) if preview.head else 1
        last = preview.tail[0].number - 1
        if last >= first:
            lines.append(f"     …  lines {first}-{last} not shown (--from {first} --lines N)")
        lines += _numbered(preview.tail)
    elif preview.total_lines is None and preview.problem is None:
        lines.append("     …  (more: --from N --lines N)")
    return "\n".join(lines)


def page_dict(page: Page) -> dict[str, Any]:
    return {
        "index": page.index,
        "path": page.path,
        "encoding": page.encoding,
        "lines": lines_json(page.lines),
        "next_line": page.next_line,
        "problem": page.problem,
    }


def page_text(page: Page) -> str:
    if page.encoding is None and page.problem is None:
        return f"({page.path} is binary data, not shown)"
    lines = _numbered(page.lines)
    if page.next_line is not None:
        lines.append(f"     …  more from line {page.next_line} (--from {page.next_line})")
    return "\n".join(lines)


class GrepPrinter:
    """``path:line:text`` for matches and ``path-line-text`` for context, as ``grep -n``
    prints them: each line once (a match inside another's context still shows as a
    match), ``--`` between separate groups. After-lines wait for the next hit."""

    def __init__(self) -> None:
        self._last: tuple[int, int] | None = None  # (entry, line number) printed last
        self._after: list[tuple[Hit, Line]] = []

    def show(self, hit: Hit) -> None:
        self._flush(hit)
        for line in hit.before:
            self._print(hit, line, "-")
        self._print(hit, hit.line, ":")
        self._after = [(hit, line) for line in hit.after]

    def finish(self) -> None:
        self._flush(None)

    def _flush(self, following: Hit | None) -> None:
        for hit, line in self._after:
            if following and following.index == hit.index and line.number >= following.line.number:
                break
            self._print(hit, line, "-")
        self._after = []

    def _print(self, hit: Hit, line: Line, mark: str) -> None:
        last = self._last
        if last is not None and last[0] == hit.index and line.number <= last[1]:
            return
        if last is not None and (last[0] != hit.index or line.number > last[1] + 1):
            print("--")
        print(f"{hit.path}{mark}{line.number}{mark}{line.text}")
        self._last = (hit.index, line.number)


def hit_dict(hit: Hit) -> dict[str, Any]:
    return {
        "index": hit.index,
        "path": hit.path,
        "line": {"number": hit.line.number, "text": hit.line.text},
        "before": lines_json(hit.before),
        "after": lines_json(hit.after),
    }
