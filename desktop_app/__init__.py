"""Missed-Call Desk: answers a brokerage's missed calls by text, task and follow-up."""

__version__ = "0.1.0"
APP_NAME = "Missed-Call Desk"
APP_ID = "missed-call-desk"
