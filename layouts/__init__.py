"""Component trees of City Eye's screens, one module per screen; no I/O."""
