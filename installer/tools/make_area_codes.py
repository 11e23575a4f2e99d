"""Regenerate resources/data/us_area_codes.json: the US state of each area code.

The data comes from phonenumbers' geocoder. The app reads this small table instead of
importing the geocoder at run time, which loads about 100 MB of place names.

    .venv/bin/python installer/tools/make_area_codes.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import phonenumbers
from phonenumbers import geocoder

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from desktop_app.core.quiet_hours import US_STATES  # noqa: E402

OUT = Path(__file__).resolve().parents[2] / "resources" / "data" / "us_area_codes.json"


def state_from_description(description: str) -> str | None:
    if ", " in description:
        tail = description.rsplit(", ", 1)[1].strip()
        if len(tail) == 2 and tail.isalpha():
            return tail.upper()
    return US_STATES.get(description.strip())


def main() -> int:
    table = {}
    for npa in range(200, 1000):
        number = phonenumbers.parse(f"+1{npa}5550100", None)
        if phonenumbers.region_code_for_number(number) != "US":
            continue
        state = state_from_description(geocoder.description_for_number(number, "en"))
        if state:
            table[str(npa)] = state
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(table, indent=0, sort_keys=True) + "\n", encoding="utf-8")
    print(f"Wrote {len(table)} area codes to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
