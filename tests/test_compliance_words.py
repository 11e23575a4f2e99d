"""How inbound texts are read for compliance: keywords, sentences, negations and other languages."""

from __future__ import annotations

import pytest

from desktop_app.core.compliance import classify_inbound

CASES = [
    # (message, kind, flagged)
    ("STOP", "opt_out", False),
    ("Stop.", "opt_out", False),
    ("S T O P", "opt_out", False),
    ("stop \U0001F6D1", "opt_out", False),
    ("\uff33\uff34\uff2f\uff30", "opt_out", False),
    ("OPT OUT", "opt_out", False),
    ("Unsubscribe.", "opt_out", False),
    ("No, stop texting me", "opt_out", True),
    ("No. Stop.", "opt_out", True),
    ("No stop", "opt_out", True),
    ("Stop. Thank you", "opt_out", True),
    ("please stop texting me", "opt_out", True),
    ("Why won't you stop texting me", "opt_out", True),
    ("never text me again", "opt_out", True),
    ("Remove me from your list", "opt_out", True),
    ("Cancel please", "opt_out", True),
    ("quit texting me", "opt_out", True),
    ("Alto", "opt_out", True),
    ("Arr\u00eat", "opt_out", True),
    ("PARAR", "opt_out", True),
    ("don't stop calling me", "reply", True),
    ("Never stop!", "reply", True),
    ("cancel my appointment", "reply", True),
    ("at the end of the month works", "reply", True),
    ("\U0001F6D1", "reply", True),
    ("Yes I am interested", "reply", False),
    ("Hi, call me back at 3", "reply", False),
    ("START", "opt_in", False),
    ("Unstop", "opt_in", False),
    ("HELP", "help", False),
    ("info", "help", False),
]


@pytest.mark.parametrize("message, kind, flagged", CASES)
def test_inbound_text_classification(message, kind, flagged):
    result = classify_inbound(message)
    assert result.kind == kind
    assert result.flag is flagged


def test_opt_out_type_wins_over_the_words():
    assert classify_inbound("gracias", "STOP").kind == "opt_out"
    assert classify_inbound("ok", "START").kind == "opt_in"
    assert classify_inbound("?", "HELP").kind == "help"
