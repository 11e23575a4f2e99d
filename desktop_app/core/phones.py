"""Phone number parsing, validation, masking and time zones, built on phonenumbers."""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType
from phonenumbers import timezone as pn_timezone

DEFAULT_REGION = "US"

# Caller IDs that carriers and Twilio use when the caller withholds the number. The digit
# strings spell ANONYMOUS, RESTRICTED, BLOCKED and UNKNOWN on a keypad.
_WITHHELD_WORDS = {"", "anonymous", "restricted", "private", "unknown", "unavailable",
                   "blocked", "withheld", "none", "null"}
_WITHHELD_DIGITS = {"266696687", "7378742833", "2562533", "8656696", "86282452253"}
_PARSE_ERRORS = {
    NumberParseException.INVALID_COUNTRY_CODE: "the country code is missing or unknown",
    NumberParseException.NOT_A_NUMBER: "it is not a phone number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "it is too short after the international prefix",
    NumberParseException.TOO_SHORT_NSN: "it is too short",
    NumberParseException.TOO_LONG: "it is too long",
}


class InvalidPhoneNumber(ValueError):
    """A string that cannot be a real, dialable phone number."""

    def __init__(self, raw: str, reason: str):
        self.raw = raw
        self.reason = reason
        super().__init__(f"{raw!r} is not a valid phone number: {reason}")


@dataclass(frozen=True)
class Phone:
    e164: str
    extension: str | None = None

    @property
    def national(self) -> str:
        return format_national(self.e164)


def is_withheld(raw: str | None) -> bool:
    """Return True for caller IDs that say the number was withheld."""
    if raw is None:
        return True
    text = raw.strip().lower()
    if text in _WITHHELD_WORDS:
        return True
    digits = re.sub(r"\D", "", text)
    return text.lstrip("+").isdigit() and digits in _WITHHELD_DIGITS


def parse_phone(raw: str, region: str = DEFAULT_REGION) -> Phone:
    """Parse any common way of writing a number into E.164 plus an optional extension.

    Raises InvalidPhoneNumber with the reason when the text cannot be a real number.
    """
    if raw is None:
        raise InvalidPhoneNumber("", "it is empty")
    text = str(raw).strip()
    if not text:
        raise InvalidPhoneNumber(text, "it is empty")
    if len(text) > 64:
        raise InvalidPhoneNumber(text[:64] + "...", "it is too long")
    # URI forms that providers use: tel:+1..., sip:+1...@host
    lowered = text.lower()
    for prefix in ("tel:", "sip:", "sips:"):
        if lowered.startswith(prefix):
            text = text[len(prefix):].split("@", 1)[0].split(";", 1)[0]
            break
    if is_withheld(text):
        raise InvalidPhoneNumber(text, "the caller ID is withheld")
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException as exc:
        raise InvalidPhoneNumber(text, _PARSE_ERRORS.get(exc.error_type, str(exc))) from None
    if not phonenumbers.is_possible_number(number):
        raise InvalidPhoneNumber(text, "it has the wrong number of digits")
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber(text, "no such number range exists")
    e164 = phonenumbers.format_number(number, PhoneNumberFormat.E164)
    return Phone(e164=e164, extension=number.extension or None)


def normalize(raw: str, region: str = DEFAULT_REGION) -> str:
    """Return the E.164 form of a number, dropping any extension."""
    return parse_phone(raw, region).e164


def try_normalize(raw: str | None, region: str = DEFAULT_REGION) -> str | None:
    try:
        return normalize(raw or "", region)
    except InvalidPhoneNumber:
        return None


def format_national(e164: str) -> str:
    """Format for people: (212) 555-0143 for US numbers, international format otherwise."""
    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException:
        return e164
    if number.country_code == 1:
        return phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    return phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)


def mask(raw: str | None) -> str:
    """Mask a phone number for logs: keep the country code and the last four digits."""
    if not raw:
        return "<none>"
    digits = re.sub(r"\D", "", str(raw))
    if len(digits) < 5:
        return "***"
    prefix = "+1" if str(raw).startswith("+1") else ("+" if str(raw).startswith("+") else "")
    return f"{prefix}***{digits[-4:]}"


def time_zones(e164: str) -> tuple[str, ...]:
    """Return the IANA zones the number's area code covers; empty when unknown."""
    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException:
        return ()
    zones = tuple(z for z in pn_timezone.time_zones_for_number(number) if z != "Etc/Unknown")
    return zones


def is_mobile_or_unknown(e164: str) -> bool:
    """False only for numbers whose range is known to be fixed-line (US ranges are mixed)."""
    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException:
        return False
    return phonenumbers.number_type(number) != PhoneNumberType.FIXED_LINE


# E.164 (+12125550143), North American forms with separators ((212) 555-0143, 212.555.0143,
# 1-212-555-0143) and bare 10-11 digit runs. Runs inside words (SIDs), IP addresses and
# longer digit strings are left alone.
_PHONE_IN_TEXT = re.compile(
    r"(?<![\w.:+])\+\d{8,15}(?![\d])"
    r"|(?<![\w.:+])(?:\+?1[\s.\-]?)?\(?\d{3}\)?[\s.\-]?\d{3}[\s.\-]\d{4}(?![\w])"
    r"|(?<![\w.:+])1?\d{10}(?![\w.])"
)


def mask_in_text(text: str) -> str:
    """Mask every phone-number-like run in free text (for log lines)."""
    return _PHONE_IN_TEXT.sub(lambda m: mask(m.group(0)), text)


_NOT_TEXTABLE_TYPES = {
    PhoneNumberType.TOLL_FREE: "a toll-free number",
    PhoneNumberType.PREMIUM_RATE: "a premium-rate number",
    PhoneNumberType.SHARED_COST: "a shared-cost number",
    PhoneNumberType.UAN: "a universal access number",
    PhoneNumberType.PAGER: "a pager number",
    PhoneNumberType.VOICEMAIL: "a voicemail access number",
}


def text_block_reason(e164: str, allowed_regions: list[str] | tuple[str, ...]) -> str | None:
    """Why an automated text should not go to this number, or None.

    Texts abroad and to toll-free or premium numbers are what SMS-pumping fraud exploits,
    and such numbers rarely belong to a borrower.
    """
    try:
        number = phonenumbers.parse(e164, None)
    except NumberParseException:
        return "the number cannot be parsed"
    region = phonenumbers.region_code_for_number(number) or "unknown"
    if allowed_regions and region not in allowed_regions:
        return (f"texts to {region} numbers are turned off (setting sms.allowed_regions: "
                f"{', '.join(allowed_regions)})")
    kind = _NOT_TEXTABLE_TYPES.get(phonenumbers.number_type(number))
    if kind:
        return f"{kind} cannot receive automated texts"
    return None
