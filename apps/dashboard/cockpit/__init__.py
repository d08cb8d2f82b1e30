"""Reads behind the cockpit pages: each page's figures as one snapshot (plain JSON types, the
numbers already formatted for people), built from the other apps' tables. Nothing here writes."""
