"""HTTP that knows nothing of Harken's domain: ranged file responses, ETags, downloads.

Where it sits: the listener's clip and headphone-check audio (``listening.participation.views``),
the report downloads (``listening.analysis.views``) and the API's CSV (``listening.api.views``)
decide *whether* a request may have a file; the functions here decide *how* it is sent.

- :func:`ranged_response` serves a file of known size with ``Accept-Ranges`` (one range,
  206 Partial Content, 416 for a range past the end; several ranges or a syntax we ignore
  get the whole file, as RFC 9110 allows), a strong ``ETag`` answered with 304 Not Modified,
  ``If-Range``, and private caching that varies with the cookie (the answer depends on who
  asks). HEAD gets the headers without opening the file. Media players seek with ranges, and
  Safari plays nothing without them.
- :func:`accel_redirect_response` hands the sending to nginx (``X-Accel-Redirect`` to an
  internal location): Django has decided who may have the file, nginx sends its bytes, with
  ranges and conditional requests, and no Python process is tied up while a slow client
  reads. :func:`signed_redirect_response` does the same for a short-lived signed URL of an
  S3-compatible store.
- :func:`streamed_csv_response` writes rows through ``csv.writer`` as they are produced, so a
  download of a million ratings never sits in memory.
- :func:`text_download` is a small text file sent as an attachment.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.utils.http import quote_etag

from mos_site.spreadsheet import csv_writer

#: How long a browser may keep audio it was sent (it stays private to that browser).
AUDIO_MAX_AGE_S = 3600

AUDIO_TYPES = {
    "flac": "audio/flac",
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "ogg": "audio/ogg",
    "opus": "audio/ogg",
    "m4a": "audio/mp4",
}

_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


def audio_content_type(name: str) -> str:
    """The media type of an audio file, from its name's extension."""
    ext = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    return AUDIO_TYPES.get(ext, "application/octet-stream")


def parse_range(header: str, size: int) -> tuple[int, int] | None | str:
    """(start, end inclusive) for one satisfiable range; None to send the whole file (no
    header, several ranges, a syntax we ignore as RFC 9110 allows); "unsatisfiable" else."""
    match = _RANGE_RE.match(header.replace(" ", ""))
    if not match:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # suffix: the last N bytes
        length = int(last)
        if length == 0:
            return "unsatisfiable"
        return max(0, size - length), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if start >= size or end < start:
        return "unsatisfiable"
    return start, min(end, size - 1)


def _iter_file(handle: IO[bytes], start: int, length: int, chunk: int = 64 * 1024) -> Iterator:
    try:
        handle.seek(start)
        remaining = length
        while remaining > 0:
            data = handle.read(min(chunk, remaining))
            if not data:
                break
            remaining -= len(data)
            yield data
    finally:
        handle.close()


def etag_matches(request: HttpRequest, etag: str) -> bool:
    """Whether the request's If-None-Match names ``etag`` (already quoted) or is ``*``."""
    if_none_match = request.headers.get("If-None-Match", "")
    return if_none_match == "*" or etag in [tag.strip() for tag in if_none_match.split(",")]


def _with_headers(response: HttpResponseBase, headers: dict[str, str]) -> HttpResponseBase:
    for key, value in headers.items():
        response[key] = value
    return response


def ranged_response(
    request: HttpRequest,
    *,
    open_file: Callable[[], IO[bytes]],
    size: int,
    content_type: str,
    etag: str,
    max_age: int = AUDIO_MAX_AGE_S,
) -> HttpResponseBase:
    """Serve a file with Range (single range, 206/416), ETag and private caching headers.

    ``open_file`` is called only when a body is sent (not for HEAD, 304 or 416); the response
    closes what it returns."""
    etag = quote_etag(etag)
    headers = {
        "Accept-Ranges": "bytes",
        "ETag": etag,
        "Cache-Control": f"private, max-age={max_age}",
        # Access depends on who asks (a cookie): a shared cache must not reuse a response.
        "Vary": "Cookie",
    }
    if etag_matches(request, etag):
        return _with_headers(HttpResponse(status=304), headers)
    wanted = None
    range_header = request.headers.get("Range", "")
    if_range = request.headers.get("If-Range")
    if range_header and (if_range is None or if_range == etag):
        wanted = parse_range(range_header, size)
    if wanted == "unsatisfiable":
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return _with_headers(response, headers)
    start, end = wanted if wanted else (0, size - 1)
    length = max(0, end - start + 1)
    status = 206 if wanted else 200
    if request.method == "HEAD":
        response: HttpResponseBase = HttpResponse(status=status)
    else:
        response = StreamingHttpResponse(_iter_file(open_file(), start, length), status=status)
    response["Content-Type"] = content_type
    response["Content-Length"] = str(length)
    if wanted:
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    return _with_headers(response, headers)


def stored_file_response(request: HttpRequest, stored: Any, *, tag: str) -> HttpResponseBase:
    """A ranged response of a file in Django's storage (``stored``: a FieldFile, local or S3),
    opened only when its bytes are sent; its ETag is ``tag`` and the size, so a file that
    changes under the same name is fetched anew."""
    size = stored.size

    def open_file() -> IO[bytes]:
        return stored.storage.open(stored.name, "rb")

    return ranged_response(
        request,
        open_file=open_file,
        size=size,
        content_type=audio_content_type(stored.name),
        etag=f"{tag}-{size}",
    )


def accel_redirect_response(
    internal_path: str, *, content_type: str, max_age: int = AUDIO_MAX_AGE_S
) -> HttpResponse:
    """An empty answer telling nginx to send ``internal_path`` (a location marked
    ``internal``): nginx keeps these headers, adds the body, the length, Range and ETag.

    The body stays empty: without nginx in front, a client gets nothing rather than a file
    it was not checked for."""
    response = HttpResponse(b"", content_type=content_type)
    response["X-Accel-Redirect"] = internal_path
    # Access depends on who asks (a cookie): a shared cache must not reuse a response.
    response["Cache-Control"] = f"private, max-age={max_age}"
    response["Vary"] = "Cookie"
    return response


def signed_redirect_response(url: str) -> HttpResponse:
    """A 302 to a short-lived signed URL; never cached, since the URL expires."""
    response = HttpResponse(status=302)
    response["Location"] = url
    response["Cache-Control"] = "private, no-store"
    response["Vary"] = "Cookie"
    return response


def bytes_response(request: HttpRequest, data: bytes, content_type: str, tag: str):
    """:func:`ranged_response` for bytes made in memory; ``tag`` names them in the ETag."""
    return ranged_response(
        request,
        open_file=lambda: io.BytesIO(data),
        size=len(data),
        content_type=content_type,
        etag=f"{tag}-{len(data)}",
    )


class _Echo:
    """A file-like object whose write returns the text: csv.writer then yields lines."""

    def write(self, value: str) -> str:
        return value


def streamed_csv_response(rows: Iterable[list[Any]], filename: str) -> StreamingHttpResponse:
    """Rows (header first) as a CSV attachment, written out as they are produced."""
    writer = csv_writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow(row) for row in rows), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def text_download(text: str, content_type: str, filename: str) -> HttpResponse:
    """``text`` as a UTF-8 attachment named ``filename``."""
    response = HttpResponse(text.encode("utf-8"), content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
