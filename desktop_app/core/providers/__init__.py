"""Clients for the services the app sends through: SMS, voicemail drops, email, CRM."""
