"""What every billing router shares: roles, opening a client's account, the public view."""

from __future__ import annotations

from collections.abc import Iterable

from halcyon.billing import store
from halcyon.shared.access import RecordAccess
from halcyon.shared.mongo import Document, as_record

BILLERS = {"biller", "agency_admin"}
# Who may see a client's balance and statement besides billers (front desk takes payments).
ACCOUNT_READERS = BILLERS | {"front_desk"}


async def open_client(
    access: RecordAccess,
    clients: store.ClientDirectory,
    client_id: str,
    roles: Iterable[str],
    *,
    action: str,
    resource: str,
) -> Document:
    """The client from billing's read model, through the shared access check at the
    client's home site (unknown in the caller's agency: 404 audited as failed; no role
    there: 403 audited as denied)."""
    return await access.open_client(
        clients,
        client_id,
        roles,
        action=action,
        resource=resource,
    )


# A stored document as the API shows it (``id``, no tenant): the shared record mapper.
public = as_record
