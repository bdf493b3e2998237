"""An alert's sign as a page in either language shows it: the name and unit come from the catalogue by the alert's
sign id at display time, so an alert raised while a page was in Chinese reads in English on an English page. The
name and unit stored with the alert (Chinese, as raised) stay for systems following MQTT and for an alert whose
sign has since left the catalogue."""

from __future__ import annotations

from alerts.model import Alert
from signs.catalogue import catalogue


def alert_name(alert: Alert, lang: str) -> str:
    sign = catalogue().signs.get(alert.sign_id)
    return sign.name_in(lang) if sign else alert.name


def alert_unit(alert: Alert, lang: str) -> str:
    sign = catalogue().signs.get(alert.sign_id)
    return sign.unit_in(lang) if sign else alert.unit
