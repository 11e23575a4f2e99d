"""A real keyring backend for tests that store credentials: keyrings.alt's file in a temporary folder.

tests/conftest.py selects the null backend for every test; this fixture swaps in the file
backend through the keyring API and puts the previous backend back afterwards.
"""

from __future__ import annotations

import keyring
import pytest
from keyrings.alt.file import PlaintextKeyring


@pytest.fixture
def file_keyring(tmp_path):
    backend = PlaintextKeyring()
    backend.file_path = str(tmp_path / "keyring" / "credentials.cfg")
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(previous)
