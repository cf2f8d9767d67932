"""Files sent as a raw request body (an 835, a scanned consent): read with a limit."""

from __future__ import annotations

from halcyon.shared.errors import DomainError
from starlette.requests import Request


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
