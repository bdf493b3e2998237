"""The one user-name rule (auth/names.py), and that every way of recording who acted on an alert keeps to it:
the web's accounts, `python -m alerts`, the lifecycle and the audit entries themselves."""

from __future__ import annotations

import pytest

from alerts import lifecycle
from alerts.__main__ import main as alerts_cli
from alerts.escalation import EscalationPolicy
from alerts.model import (
    ENGINE_USER,
    Alert,
    Event,
    RuleKind,
    Silence,
    SilenceScope,
    alert_transition,
    silence_transition,
)
from auth.model import Role
from auth.names import USERNAME_MAX_LEN, InvalidUsername, check_username, is_username
from auth.store import AccessError, save_user
from config import Settings
from signs.catalogue import catalogue
from signs.model import Level

MARKUP = "<img src=x onerror=alert(3)>"
T0 = 1_779_602_700.0

REFUSED = [
    "",
    " ",
    MARKUP,
    "<script>",
    'wang"',
    "wang'",
    "a&b",
    "Wang",  # upper case: names are compared as typed at sign-in, which lower-cases
    "wang wei",
    "wang\n",  # a regex with $ would let a trailing newline through
    "wang\t",
    "wang\x00",
    "wang\x07",
    "wang\u200b",  # zero-width space
    "wаng",  # Cyrillic а
    "ｗａｎｇ",  # full-width
    "王伟",
    "wang\u202e",  # right-to-left override
    "x" * (USERNAME_MAX_LEN + 1),
]
ACCEPTED = ["wang", "duty1", "li.na", "zhang_san", "duty-2", ENGINE_USER, "x" * USERNAME_MAX_LEN]


@pytest.mark.parametrize("name", REFUSED)
def test_names_with_markup_spaces_control_or_foreign_characters_are_refused(name: str) -> None:
    assert not is_username(name)
    with pytest.raises(InvalidUsername, match="user name is 1 to 64 lower-case letters"):
        check_username(name)


@pytest.mark.parametrize("name", ACCEPTED)
def test_plain_lower_case_names_are_accepted(name: str) -> None:
    assert is_username(name) and check_username(name) == name


@pytest.mark.parametrize("name", [None, 42, b"wang"])
def test_a_name_that_is_not_text_is_refused(name: object) -> None:
    assert not is_username(name)


def test_the_refusal_is_a_value_error_so_the_web_answers_400() -> None:
    assert issubclass(InvalidUsername, ValueError)


@pytest.mark.parametrize("name", [MARKUP, "wang wei", "x" * (USERNAME_MAX_LEN + 1)])
def test_the_web_accounts_keep_to_the_same_rule(name: str) -> None:
    # Refused before anything is written, so no Redis is needed to see it.
    with pytest.raises(AccessError, match="lower-case letters"):
        save_user(None, name, Role.OFFICER, "a long enough password", by="test")  # type: ignore[arg-type]


@pytest.mark.parametrize("argv", [
    ["ack", "threshold-1", "--user", MARKUP],
    ["resolve", "threshold-1", "--user", "wang wei", "--note", "done"],
    ["silence", "district", "420624", "--for", "2h", "--reason", "maintenance", "--user", "wang\x07"],
    ["unsilence", "silence-1", "--user", "Wang"],
])
def test_the_command_line_refuses_such_a_name_with_exit_2_before_touching_redis(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        alerts_cli(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "argument --user" in err and "lower-case letters" in err


def _raised() -> Alert:
    sign = catalogue().signs["XY.P.M01.P01.dist:420602"]
    alert, _ = lifecycle.raise_alert(
        alert_id="threshold-1-abc", rule=RuleKind.THRESHOLD, sign=sign, district="420602", level=Level.YELLOW,
        value=63.0, since=T0, now=T0, due=EscalationPolicy.from_settings(Settings()).deadlines(T0, Level.YELLOW),
        silence=None,
    )
    return alert


def test_the_lifecycle_refuses_to_record_a_name_with_markup() -> None:
    alert = _raised()
    with pytest.raises(InvalidUsername):
        lifecycle.acknowledge(alert, MARKUP, "", T0 + 60)
    with pytest.raises(InvalidUsername):
        lifecycle.resolve(alert, MARKUP, "done", T0 + 60)
    acknowledged, transition = lifecycle.acknowledge(alert, "wang", "", T0 + 60)
    assert transition.by == "wang" and acknowledged.acknowledged is not None and acknowledged.acknowledged.by == "wang"


def test_no_audit_entry_can_name_markup_as_who_acted() -> None:
    alert = _raised()
    hush = Silence("silence-1", SilenceScope.DISTRICT, "420602", T0 + 3600, "maintenance", "wang", T0)
    with pytest.raises(InvalidUsername):
        alert_transition(alert, Event.ACKNOWLEDGED, T0, MARKUP)
    with pytest.raises(InvalidUsername):
        silence_transition(hush, Event.SILENCE_LIFTED, T0, MARKUP)
    with pytest.raises(InvalidUsername):
        lifecycle.silence(alert, hush, T0, MARKUP)
    with pytest.raises(InvalidUsername):
        lifecycle.unsilence(alert, T0, "wang wei")
