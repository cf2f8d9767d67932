"""Files sent as a raw request body (an 835, a scanned consent), read with a limit, and
stored files sent back."""

from __future__ import annotations

import hashlib
from typing import Any, Literal
from urllib.parse import quote

from halcyon.shared.errors import DomainError
from starlette.requests import Request
from starlette.responses import Response

Disposition = Literal["attachment", "inline"]
# What an upload route and a download route declare beyond the shared problem responses.
UPLOAD_RESPONSES: dict[int | str, dict[str, Any]] = {
    415: {"description": "The file is not a PDF, PNG, JPEG or TIFF"}
}
DOWNLOAD_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {t: {} for t in ("application/pdf", "image/png", "image/jpeg", "image/tiff")}},
    409: {"description": "The stored file failed its integrity check"},
}
# For callers inside the cluster: a download is sandboxed outright; a preview cannot be
# (browsers' PDF viewers refuse sandboxed documents). What keeps a served file from
# running is that only sniffed PDFs and images are stored (``halcyon.shared.files``),
# served with nosniff. The public gateway replaces these with its own policy.
SAVE_POLICY = "default-src 'none'; sandbox; frame-ancestors 'none'"
PREVIEW_POLICY = "default-src 'none'; frame-ancestors 'self'"


class FileTooLarge(DomainError):
    status, slug, title = 413, "payload-too-large", "The file is too large"


async def read_upload(request: Request, limit: int) -> bytes:
    """The request body, refused (413) as soon as it passes ``limit``: never read whole first."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise FileTooLarge(f"the file is larger than {limit // (1024 * 1024)} MB")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise FileTooLarge(f"the file is larger than {limit // (1024 * 1024)} MB")
        chunks.append(chunk)
    return b"".join(chunks)


def file_download(
    data: bytes, content_type: str, filename: str, sha256: str, disposition: Disposition
) -> Response:
    """A stored file as a response the browser saves (or shows, for a preview)."""
    name = quote(filename, safe="")
    return Response(
        content=data,
        media_type=content_type,
        headers={
            "Content-Disposition": f"{disposition}; filename*=UTF-8''{name}",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": PREVIEW_POLICY if disposition == "inline" else SAVE_POLICY,
            "Cache-Control": "no-store",
            "ETag": '"' + hashlib.sha256(sha256.encode()).hexdigest()[:32] + '"',
        },
    )
