"""The core app has no tables of its own; see ``fields`` for the encrypted field."""
