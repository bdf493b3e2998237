"""Callbacks of City Eye's screens, one module per screen: thin wiring around small pure functions."""
