"""MQTT in, Redis out: the contract, the feed workers and the city simulator."""
