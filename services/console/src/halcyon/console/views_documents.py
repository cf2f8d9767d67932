"""Documents in the chart: upload a scanned file, view it in the browser, download it."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response
from halcyon.console.api import ApiError
from halcyon.console.views_chart import chart_page
from halcyon.console.web import PREFIX, BadCsrf, current, redirect
from starlette.datastructures import UploadFile

router = APIRouter(prefix=PREFIX)
MAX_FILE_BYTES = 10 * 1024 * 1024


@router.post("/clients/{client_id}/documents")
async def upload(request: Request, client_id: str) -> Response:
    _, session, api = current(request)
    form = await request.form(max_files=1, max_fields=10)
    if form.get("csrf") != session.csrf:
        raise BadCsrf()
    file = form.get("file")
    title = str(form.get("title") or "").strip()
    category = str(form.get("category") or "")
    values = {"title": title, "category": category}
    if not isinstance(file, UploadFile) or not file.filename:
        return await chart_page(request, client_id, ["Choose a file to upload."], values, 422)
    data = await file.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        return await chart_page(request, client_id, ["The file is over 10 MB."], values, 413)
    # The digest lets clinical refuse a file that did not arrive whole.
    digest = "sha-256=:" + base64.b64encode(hashlib.sha256(data).digest()).decode() + ":"
    try:
        await api.call(
            "POST",
            f"/api/clinical/clients/{client_id}/documents",
            content=data,
            params={"category": category, "title": title, "filename": file.filename},
            headers={
                "Content-Type": file.content_type or "application/octet-stream",
                "Content-Digest": digest,
            },
        )
    except ApiError as exc:
        return await chart_page(request, client_id, exc.words, values, exc.status)
    return redirect(f"{PREFIX}/clients/{client_id}#documents")


@router.get("/clients/{client_id}/documents/{document_id}")
async def show(request: Request, client_id: str, document_id: str, view: str = "") -> Response:
    """The file itself: shown by the browser (``view=inline``) or saved."""
    _, _, api = current(request)
    disposition = "inline" if view == "inline" else "attachment"
    upstream = await api.raw(
        "GET",
        f"/api/clinical/documents/{document_id}/content",
        params={"disposition": disposition},
    )
    if upstream.status_code != 200:
        return await chart_page(
            request, client_id, ["The document could not be opened."], None, upstream.status_code
        )
    name = upstream.headers.get("content-disposition", "").partition("filename*=UTF-8''")[2]
    return Response(
        upstream.content,
        media_type=upstream.headers.get("content-type", "application/octet-stream"),
        headers={
            "Content-Disposition": f"{disposition}; filename*=UTF-8''{name or quote(document_id)}",
            "X-Content-Type-Options": "nosniff",
        },
    )
