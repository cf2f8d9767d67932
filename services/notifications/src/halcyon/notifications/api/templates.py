"""An agency's own variants of the message templates (validated before they are saved)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from halcyon.notifications.api.common import ADMINS, Strict
from halcyon.notifications.api.deps import TemplatesRepo
from halcyon.notifications.domain.templates import MessageTemplate
from halcyon.notifications.usecases.templates import agency_templates, save_agency_template
from halcyon.shared.access import Access
from pydantic import Field

router = APIRouter(tags=["templates"])
TEMPLATES = "notifications/templates"


class TemplateIn(Strict):
    subject: str = Field(default="", max_length=300)
    text: str = Field(min_length=1, max_length=5000)
    html: str | None = Field(default=None, max_length=20000)


class TemplateOut(TemplateIn):
    template: str
    channel: str
    language: str


@router.put(
    "/templates/{template}/{channel}/{language}",
    response_model=TemplateOut,
    summary="Set this agency's variant of a template (validated before it is saved)",
)
async def put_template(
    template: str,
    channel: str,
    language: Annotated[str, Path(pattern=r"^[a-z]{2}$")],
    body: TemplateIn,
    access: Access,
    templates: TemplatesRepo,
) -> TemplateOut:
    await access.require(ADMINS, None, action="update", resource=TEMPLATES)
    candidate = MessageTemplate(subject=body.subject, text=body.text, html=body.html)
    key = (template, channel, language)
    await save_agency_template(templates, access.tenant_id, key, candidate)
    return TemplateOut(template=template, channel=channel, language=language, **body.model_dump())


@router.get(
    "/templates",
    response_model=list[TemplateOut],
    summary="This agency's templates over the defaults",
)
async def list_templates(access: Access, templates: TemplatesRepo) -> list[TemplateOut]:
    await access.require(ADMINS, None, action="read", resource=TEMPLATES)
    return [
        TemplateOut(
            template=k[0], channel=k[1], language=k[2], subject=v.subject, text=v.text, html=v.html
        )
        for k, v in await agency_templates(templates, access.tenant_id)
    ]
