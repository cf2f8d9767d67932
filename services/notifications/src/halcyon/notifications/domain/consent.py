"""What a client's reply to our SMS means for their consent to messages."""

from __future__ import annotations

# The carrier (CTIA) keywords: these opt out of, and START/UNSTOP back into, messages.
STOP_WORDS = frozenset({"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "baja", "parar"})
START_WORDS = frozenset({"start", "unstop", "yes", "alta"})


def opt_out_by_reply(body: str) -> bool | None:
    """True: the reply opts out; False: it opts back in; None: it is not a keyword."""
    keyword = body.strip().lower()
    if keyword in STOP_WORDS:
        return True
    if keyword in START_WORDS:
        return False
    return None


def reply_path(opted_out: bool) -> str:
    """How the client acted, as the preference history and the audit trail name it."""
    return "sms-stop" if opted_out else "sms-start"
