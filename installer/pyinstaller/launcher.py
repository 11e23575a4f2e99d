"""Entry point of the bundled app: the same command line as `python -m desktop_app`."""

import os
import sys

# The windowed Windows program starts without a console, so sys.stdout and sys.stderr are
# None there. Point them at the null device, so logging and argparse write nowhere instead
# of failing. The console program (missed-call-desk.exe) prints as usual.
if sys.stdout is None:
    sys.stdout = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - lives as long as the process
if sys.stderr is None:
    sys.stderr = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115

from desktop_app.cli import main  # noqa: E402 - after the stream fix above

sys.exit(main())
