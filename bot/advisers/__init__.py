"""Advise backends: Thoth's user-API, the embedded adviser and the result cache."""
