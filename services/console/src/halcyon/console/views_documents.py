"""Uploaded files: a chart's documents and a staff member's credential files. Upload a
scan, view it in the browser, download it."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response
from halcyon.console.api import ApiError
from halcyon.console.views_chart import chart_page
from halcyon.console.web import PREFIX, BadCsrf, current, redirect
from halcyon.shared.files import MAX_FILE_BYTES, content_digest
from starlette.datastructures import UploadFile

router = APIRouter(prefix=PREFIX)


async def _send_file(
    request: Request, path: str, fields: tuple[str, ...]
) -> tuple[dict[str, str], list[str], int]:
    """Read the console's upload form and send the file to ``path`` as its raw body.

    Returns what was typed (to show the form again), and the problem in words with its
    status when it was refused (no words: stored).
    """
    _, session, api = current(request)
    form = await request.form(max_files=1, max_fields=10)
    if form.get("csrf") != session.csrf:
        raise BadCsrf()
    values = {name: str(form.get(name) or "").strip() for name in fields}
    file = form.get("file")
    if not isinstance(file, UploadFile) or not file.filename:
        return values, ["Choose a file to upload."], 422
    data = await file.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        return values, ["The file is over 10 MB."], 413
    params = {k: v for k, v in values.items() if v} | {"filename": file.filename}
    try:
        await api.call(
            "POST",
            path,
            content=data,
            params=params,
            headers={
                "Content-Type": file.content_type or "application/octet-stream",
                # Lets the service refuse a file that did not arrive whole.
                "Content-Digest": content_digest(data),
            },
        )
    except ApiError as exc:
        return values, exc.words, exc.status
    return values, [], 201


async def _show_file(request: Request, path: str, view: str) -> Response | None:
    """The stored file itself: shown by the browser (``view=inline``) or saved; ``None``
    when the service refused it."""
    _, _, api = current(request)
    disposition = "inline" if view == "inline" else "attachment"
    upstream = await api.raw("GET", path, params={"disposition": disposition})
    if upstream.status_code != 200:
        return None
    name = upstream.headers.get("content-disposition", "").partition("filename*=UTF-8''")[2]
    return Response(
        upstream.content,
        media_type=upstream.headers.get("content-type", "application/octet-stream"),
        headers={
            "Content-Disposition": f"{disposition}; filename*=UTF-8''{name or 'file'}",
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.post("/clients/{client_id}/documents")
async def upload(request: Request, client_id: str) -> Response:
    path = f"/api/clinical/clients/{client_id}/documents"
    values, problems, status = await _send_file(request, path, ("category", "title"))
    if problems:
        return await chart_page(request, client_id, problems, values, status)
    return redirect(f"{PREFIX}/clients/{client_id}#documents")


@router.get("/clients/{client_id}/documents/{document_id}")
async def show(request: Request, client_id: str, document_id: str, view: str = "") -> Response:
    shown = await _show_file(request, f"/api/clinical/documents/{document_id}/content", view)
    if shown is None:
        return await chart_page(
            request, client_id, ["The document could not be opened."], None, 404
        )
    return shown


CREDENTIAL_KINDS = {
    "licence": "Licence",
    "dea_certificate": "DEA certificate",
    "board_certification": "Board certification",
    "insurance": "Malpractice insurance",
    "training": "Training certificate",
    "cv": "CV",
    "authorised_prescriber_approval": "Authorised-prescriber approval (TGA)",
    "other": "Other",
}


async def _credentials_page(
    request: Request, staff_id: str, errors: list[str] | None = None,
    values: dict[str, str] | None = None, status: int = 200, done: str = "",
) -> Response:  # fmt: skip
    console, session, api = current(request)
    try:
        member = await api.get(f"/api/identity/staff/{staff_id}")
        files = await api.get(f"/api/identity/staff/{staff_id}/credential-files", limit=100)
    except ApiError as exc:
        return console.render(request, "error.html", session, errors=exc.words, status=exc.status)
    return console.render(
        request, "credential_files.html", session, status=status, member=member,
        files=files.get("items", []), kinds=CREDENTIAL_KINDS, errors=errors or [],
        values=values or {}, done=done,
    )  # fmt: skip


@router.get("/admin/staff/{staff_id}/credential-files")
async def credential_files(request: Request, staff_id: str) -> Response:
    return await _credentials_page(request, staff_id)


@router.post("/admin/staff/{staff_id}/credential-files")
async def upload_credential(request: Request, staff_id: str) -> Response:
    path = f"/api/identity/staff/{staff_id}/credential-files"
    values, problems, status = await _send_file(request, path, ("kind", "title", "expires_on"))
    if problems:
        return await _credentials_page(request, staff_id, problems, values, status)
    return await _credentials_page(request, staff_id, done=f"{values['title']} uploaded.")


@router.get("/admin/credential-files/{file_id}")
async def show_credential(request: Request, file_id: str, view: str = "") -> Response:
    shown = await _show_file(request, f"/api/identity/credential-files/{file_id}/content", view)
    if shown is None:
        console, session, _ = current(request)
        return console.render(
            request, "error.html", session, errors=["The file could not be opened."], status=404
        )
    return shown
