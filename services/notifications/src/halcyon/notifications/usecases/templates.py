"""An agency's own variants of the message templates, checked before they are saved."""

from __future__ import annotations

from halcyon.notifications.domain.template_policy import check_agency_template, over_defaults
from halcyon.notifications.domain.templates import MessageTemplate, TemplateKey
from halcyon.notifications.store import AgencyTemplates


async def save_agency_template(
    templates: AgencyTemplates, tenant: str, key: TemplateKey, candidate: MessageTemplate
) -> None:
    template, channel, language = key
    check_agency_template(template, channel, candidate)
    await templates.update(
        tenant,
        {"_id": f"{template}:{channel}:{language}"},
        {
            "$set": {
                "template": template,
                "channel": channel,
                "language": language,
                "subject": candidate.subject,
                "text": candidate.text,
                "html": candidate.html,
            }
        },
        upsert=True,
    )


async def agency_templates(
    templates: AgencyTemplates, tenant: str
) -> list[tuple[TemplateKey, MessageTemplate]]:
    """This agency's templates over the defaults, in key order."""
    docs = await templates.find(tenant, {})
    return over_defaults(
        (
            (doc["template"], doc["channel"], doc["language"]),
            MessageTemplate(subject=doc.get("subject", ""), text=doc["text"], html=doc.get("html")),
        )
        for doc in docs
    )
