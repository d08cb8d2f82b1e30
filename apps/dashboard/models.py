"""The dashboard has no tables: it reads the other apps and pushes their events."""
