"""The city-sign domain: the catalogue, Redis key families and typed reads of what the feeds wrote."""
