"""Bundled templates, icons and styles (installed as desktop_app.resources)."""
