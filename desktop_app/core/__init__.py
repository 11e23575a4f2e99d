"""The app's core: storage, webhooks, routing, sequences and providers, with no Qt import."""
