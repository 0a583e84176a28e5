"""The one rule for missing test servers: a skip on a developer's machine, a failure under CI."""

from __future__ import annotations

import pytest

from tests.servers import need_server


@pytest.mark.parametrize("value", ["true", "True", "1", "yes"])
def test_under_ci_a_missing_server_fails_the_test(monkeypatch, value):
    monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.fail.Exception, match="required test server unavailable: no dovecot"):
        need_server("no dovecot")


@pytest.mark.parametrize("value", [None, "", "0", "false", "no"])
def test_outside_ci_it_is_skipped(monkeypatch, value):
    if value is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", value)
    with pytest.raises(pytest.skip.Exception, match="no dovecot"):
        need_server("no dovecot")
