"""The template editor's live preview: a sample borrower, the rendered text and its SMS segments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import select

from desktop_app.core import models
from desktop_app.core.sequences import render_values
from desktop_app.core.templates import (SegmentInfo, Template, TemplateError, check_template, render,
                                        segment_info)

# The sample borrower the preview is rendered for.
SAMPLE_CALLER = "+12125550143"
SAMPLE_FIRST_NAME = "Maria"
SAMPLE_LOAN_PURPOSE = "purchase"
SAMPLE_LO_NAME = "Dana Reyes"
SAMPLE_DIALED = "+12125550100"
# Templates sent as a borrower's first text, which get the opt-out line (sequences.compose).
FIRST_TEXT_TEMPLATES = ("first_text", "first_text_after_hours")


@dataclass(frozen=True)
class Sample:
    """Placeholder values for the preview, and the opt-out line added to a first text ("" if off)."""

    values: dict
    opt_out_line: str


@dataclass(frozen=True)
class Preview:
    subject: str
    body: str
    segments: SegmentInfo | None  # SMS templates only
    error: str  # why the text cannot be rendered, or ""


def load_sample(ctx, now: datetime) -> Sample:
    """Build the sample borrower from the settings and the first active LO. Reads the database."""
    with ctx.db.read() as session:
        lo = session.exec(select(models.LoanOfficer).where(models.LoanOfficer.active)
                          .order_by(models.LoanOfficer.name)).first()
        route = session.exec(select(models.Route).order_by(models.Route.id)).first()
        contact = models.Contact(phone=SAMPLE_CALLER, first_name=SAMPLE_FIRST_NAME,
                                 loan_purpose=SAMPLE_LOAN_PURPOSE,
                                 lo_name=lo.name if lo is not None else SAMPLE_LO_NAME)
        call = models.Call(provider="twilio", call_id="preview", caller=SAMPLE_CALLER,
                           dialed=route.dialed if route is not None else SAMPLE_DIALED)
        values = render_values(session, ctx, contact, call, now)
    line = ""
    if ctx.settings.get("sms.opt_out_line"):
        line = (ctx.settings.get("sms.opt_out_line_text") or "").strip()
    return Sample(values, line)


def build_preview(template: Template, body: str, subject: str, sample: Sample) -> Preview:
    """Render body and subject as `template` would be sent to the sample borrower."""
    try:
        check_template(body)
        check_template(subject)
        text = render(body, sample.values)
        rendered_subject = render(subject, sample.values) if subject else ""
    except (TemplateError, ValueError, IndexError, KeyError) as exc:
        return Preview("", "", None, str(exc))
    segments = None
    if template.channel == "sms":
        line = sample.opt_out_line
        if template.name in FIRST_TEXT_TEMPLATES and line and line.lower() not in text.lower():
            text = f"{text} {line}"
        segments = segment_info(text)
    return Preview(rendered_subject, text, segments, "")


def describe_segments(info: SegmentInfo) -> str:
    """One line for the editor, e.g. "GSM-7, 152 characters, 1 segment (160 per segment)"."""
    unit = "characters" if info.encoding == "GSM-7" else "UTF-16 units"
    plural = "segment" if info.segments == 1 else "segments"
    text = (f"{info.encoding}, {info.units} {unit}, {info.segments} {plural} "
            f"({info.per_segment} per segment)")
    # Characters with a plain replacement are listed by the editor's replace hint instead.
    plain = [c for c in info.non_gsm if c not in info.smart_characters]
    if plain:
        shown = " ".join(_visible(c) for c in plain[:8])
        text += f". UCS-2 because of: {shown}"
    return text


def _visible(char: str) -> str:
    """Show invisible characters by their code point, the rest as themselves."""
    if char.isspace() or not char.isprintable():
        return f"U+{ord(char):04X}"
    return char

