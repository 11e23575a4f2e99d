"""Opt-out keywords, the opt-out ledger and do-not-contact checks."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from desktop_app.core import models

OPT_OUT_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT",
                           "REVOKE", "OPTOUT"})
OPT_IN_WORDS = frozenset({"START", "YES", "UNSTOP"})
HELP_WORDS = frozenset({"HELP", "INFO"})
# Keywords that Twilio's default opt-out handling replies to itself on long codes and toll-free
# numbers, so the app must not send a second confirmation for them.
CARRIER_CONFIRMED_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT",
                                     "REVOKE", "OPTOUT", "START", "YES", "UNSTOP", "HELP", "INFO"})

# Inside a sentence, these words clearly ask to stop messages.
_STRONG_WORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "OPTOUT", "REVOKE"})
# These also have everyday meanings ("cancel my appointment", "end of the month"). Inside a
# sentence they opt out only next to a word about messages or contact, or in a very short
# message.
_WEAK_WORDS = frozenset({"CANCEL", "END", "QUIT"})
_MESSAGING_WORDS = frozenset({"TEXT", "TEXTS", "TEXTING", "MESSAGE", "MESSAGES", "MESSAGING",
                              "SMS", "CONTACT", "CONTACTING", "CALLING", "CALLS", "EMAIL",
                              "EMAILS", "SUBSCRIPTION", "LIST", "THIS", "THESE", "IT"})
# "NO" is left out: "No, stop texting me" and "No. Stop." are opt-outs, not negations.
_NEGATIONS = frozenset({"DONT", "DON'T", "NOT", "NEVER", "DO NOT", "CANT", "CAN'T",
                        "WONT", "WON'T", "DIDNT", "DIDN'T", "SHOULDNT", "SHOULDN'T"})
# Words that may stand beside a weak keyword in a short message that is still an opt-out
# ("cancel please", "quit it"). Any other word ("cancel my appointment") makes it a reply.
_FILLER_WORDS = frozenset({"PLEASE", "PLS", "PLZ", "NOW", "IT", "THIS", "THAT", "ALL", "ME",
                           "THANKS", "THANK", "YOU", "OK", "OKAY", "NO", "JUST"})
_OPT_OUT_PHRASES = (
    "REMOVE ME", "TAKE ME OFF", "DO NOT TEXT", "DONT TEXT", "DO NOT CONTACT", "DONT CONTACT",
    "DO NOT MESSAGE", "DONT MESSAGE", "NO MORE TEXTS", "NO MORE MESSAGES", "LEAVE ME ALONE",
    "STOP TEXTING", "STOP MESSAGING", "STOP CONTACTING", "WRONG NUMBER",
    "NEVER TEXT", "NEVER CONTACT", "NEVER MESSAGE", "NEVER CALL", "NOT INTERESTED IN TEXTS",
    "DONT WANT TEXTS", "DONT WANT THESE", "DO NOT WANT TEXTS",
)


@dataclass(frozen=True)
class Classification:
    """What an inbound text means for compliance.

    kind: opt_out, opt_in, help or reply. `flag` means a person should read the message.
    `keyword` is the matched word when the whole message was a keyword.
    """

    kind: str
    flag: bool = False
    reason: str = ""
    keyword: str | None = None


def _normalize(body: str) -> str:
    text = unicodedata.normalize("NFKC", body or "").upper()
    text = text.replace("\u2019", "'").replace("\u2018", "'")
    return text


def _words(text: str) -> list[str]:
    return re.findall(r"[A-Z0-9']+", text)


# Whole-message stop words in Spanish and French: not carrier keywords, so they opt out
# and go to a person to read.
_OTHER_LANGUAGE_STOPS = frozenset({"ALTO", "PARAR", "PARE", "BASTA", "CANCELAR", "DETENER",
                                   "ARRET", "ARRETER"})
_STOP_SYMBOLS = ("\U0001F6D1", "\u270B", "\U0001F6AB", "\u26D4")  # stop sign, raised hand, no entry


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def keyword_of(body: str) -> str | None:
    """Return the keyword a whole message amounts to, ignoring case, spaces and punctuation.

    "Stop.", " STOP! ", "Opt out", "opt-out" and "stop stop" all count; "stop please" does not.
    """
    words = [w.replace("'", "") for w in _words(_normalize(body))]
    if not words:
        return None
    joined = "".join(words)
    if len(words) > 1 and all(len(w) == 1 for w in words):  # "S T O P"
        words = [joined]
    if joined == "OPTOUT" or joined == "STOPALL":
        return joined
    candidates = set(words)
    if len(candidates) == 1:
        word = words[0]
        if word in OPT_OUT_WORDS | OPT_IN_WORDS | HELP_WORDS:
            return word
    return None


def _negated(words: list[str], index: int) -> bool:
    """True when the word right before is a negation ("don't stop", "do not stop").

    Only the adjacent word counts: "why won't you stop texting me" is still an opt-out.
    """
    if index == 0:
        return False
    if words[index - 1] in _NEGATIONS:
        return True
    return index >= 2 and f"{words[index - 2]} {words[index - 1]}" in _NEGATIONS


def classify_inbound(body: str, opt_out_type: str | None = None) -> Classification:
    """Decide whether an inbound text opts out, opts in, asks for help or is a plain reply."""
    if opt_out_type:
        kind = opt_out_type.strip().upper()
        if kind == "STOP":
            return Classification("opt_out", keyword=keyword_of(body) or "STOP",
                                  reason="carrier opt-out keyword (OptOutType STOP)")
        if kind == "START":
            return Classification("opt_in", keyword=keyword_of(body) or "START",
                                  reason="carrier opt-in keyword (OptOutType START)")
        if kind == "HELP":
            return Classification("help", keyword=keyword_of(body) or "HELP",
                                  reason="carrier help keyword (OptOutType HELP)")

    keyword = keyword_of(body)
    if keyword in OPT_OUT_WORDS or keyword in ("OPTOUT", "STOPALL"):
        return Classification("opt_out", keyword=keyword, reason=f"opt-out keyword {keyword}")
    if keyword in OPT_IN_WORDS:
        return Classification("opt_in", keyword=keyword, reason=f"opt-in keyword {keyword}")
    if keyword in HELP_WORDS:
        return Classification("help", keyword=keyword, reason=f"help keyword {keyword}")

    stripped = _strip_accents(_normalize(body))
    bare = [w.replace("'", "") for w in _words(stripped)]
    if len(bare) == 1 and bare[0] in _OTHER_LANGUAGE_STOPS:
        return Classification("opt_out", flag=True,
                              reason=f"message is the stop word {bare[0]} in another language")
    if not bare and any(symbol in (body or "") for symbol in _STOP_SYMBOLS):
        return Classification("reply", flag=True,
                              reason="message is only a stop symbol; check whether it asks to stop")

    text = _normalize(body)
    words = _words(text)
    plain = [w.replace("'", "") for w in words]
    flat = " ".join(plain)
    # "opt out" written as two words inside a sentence
    for i in range(len(plain) - 1):
        if plain[i] == "OPT" and plain[i + 1] == "OUT":
            plain[i] = "OPTOUT"

    negated_hit = None
    for i, word in enumerate(plain):
        if word not in _STRONG_WORDS and word not in _WEAK_WORDS:
            continue
        if _negated(words, i):
            negated_hit = word
            continue
        if word in _STRONG_WORDS:
            return Classification("opt_out", flag=True,
                                   reason=f"message contains the opt-out word {word}")
        nearby = set(plain[max(0, i - 3): i + 4])
        others = set(plain) - {word}
        if nearby & _MESSAGING_WORDS or (len(plain) <= 3 and others <= _FILLER_WORDS):
            return Classification("opt_out", flag=True,
                                  reason=f"message asks to {word.lower()} messages")
        return Classification("reply", flag=True,
                              reason=f"message contains {word} in another sense; check it")
    for phrase in _OPT_OUT_PHRASES:
        if phrase in flat:
            if negated_hit is None:
                return Classification("opt_out", flag=True,
                                      reason=f"message says \"{phrase.lower()}\"")
    if negated_hit is not None:
        return Classification("reply", flag=True,
                              reason=f"message contains {negated_hit} after a negation; "
                                     "not treated as an opt-out")
    return Classification("reply")


# -- ledger ---------------------------------------------------------------------------------

def record(session: Session, *, phone: str, action: str, channel: str, source: str, at: datetime,
           text: str | None = None, flagged: bool = False, email: str | None = None
           ) -> models.OptOutEntry:
    entry = models.OptOutEntry(phone=phone, email=email, channel=channel, action=action,
                               source=source, text=text, flagged=flagged, at=at)
    session.add(entry)
    return entry


def opted_out(session: Session, phone: str, channel: str) -> models.OptOutEntry | None:
    """Return the ledger entry that blocks `channel` for `phone`, or None when it is open.

    The latest entry for the channel itself or for "all" decides.
    """
    entry = session.exec(
        select(models.OptOutEntry)
        .where(models.OptOutEntry.phone == phone)
        .where(models.OptOutEntry.channel.in_((channel, "all")))
        .order_by(models.OptOutEntry.at.desc(), models.OptOutEntry.id.desc())
    ).first()
    if entry is not None and entry.action == "opt_out":
        return entry
    return None


def email_opted_out(session: Session, email: str) -> models.OptOutEntry | None:
    entry = session.exec(
        select(models.OptOutEntry)
        .where(models.OptOutEntry.email == email.lower())
        .order_by(models.OptOutEntry.at.desc(), models.OptOutEntry.id.desc())
    ).first()
    if entry is not None and entry.action == "opt_out":
        return entry
    return None


def on_dnc_list(session: Session, phone: str) -> models.DncEntry | None:
    return session.exec(select(models.DncEntry).where(models.DncEntry.phone == phone)).first()


def block_reason(session: Session, contact: models.Contact, channel: str) -> str | None:
    """Why no automated message may reach this contact on this channel, or None."""
    entry = opted_out(session, contact.phone, channel)
    if entry is not None:
        return f"opted out ({entry.source}, {entry.at:%Y-%m-%d %H:%M} UTC)"
    if contact.do_not_contact:
        return "do-not-contact flag" + (f": {contact.dnc_reason}" if contact.dnc_reason else "")
    dnc = on_dnc_list(session, contact.phone)
    if dnc is not None:
        return f"on the do-not-contact list ({dnc.source})"
    if channel == "email" and contact.email and email_opted_out(session, contact.email):
        return "email address unsubscribed"
    return None
