"""Embedded Redis and MQTT broker, and the `python -m services run` orchestrator behind `make run`."""
