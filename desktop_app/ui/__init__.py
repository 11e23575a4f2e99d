"""The coordinator's window: thin Qt widgets over the core."""
