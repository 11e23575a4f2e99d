"""PyInstaller runtime hook: make every TLS client in the bundle trust certifi's CA file.

httpx and requests (which the twilio client uses) already read certifi.where(), which the
certifi hook collects into the bundle. The standard library's ssl module (smtplib,
urllib) would look in the build machine's OpenSSL folders instead, which may not exist on
the user's PC, so SSL_CERT_FILE points it at the same file. A value already set in the
environment wins, so an office behind a TLS-inspecting proxy can supply its own CA file.
"""

import os

import certifi

_CA_FILE = certifi.where()
os.environ.setdefault("SSL_CERT_FILE", _CA_FILE)
os.environ.setdefault("REQUESTS_CA_BUNDLE", _CA_FILE)
