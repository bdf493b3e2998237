"""HTTP endpoints beside the Dash app: the read API, health and static geometry."""
