"""Signing in to a server that checks credentials (--auth sigv4): the secret must be the one
configured for the key; a wrong one is refused, in the browser and over HTTP; a session ends
when its key's secret changes (a reload of the config file)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from typing import Any

import console_world as cw
import pytest
from console_browser import Browser, ConsoleClient
from e2e_helpers import module_server, wait_for

KEY, SECRET = "AKIAGUMSHOECONSOLE01", "console-secret/K7MDENG"
CONFIG = f'''
[[credentials]]
access_key_id = "{KEY}"
secret_access_key = "{SECRET}"
account = "{cw.ADMIN}"
'''


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    with module_server(tmp_path_factory, config_toml=CONFIG, args=["--auth", "sigv4"], name="console-sigv4") as srv:
        yield srv


@pytest.fixture(scope="module")
def browser(server: Any, make_browser: Any) -> Browser:
    return make_browser(server.url)  # type: ignore[no-any-return]


def test_a_wrong_secret_is_refused_and_the_right_one_signs_in(server: Any, browser: Browser,
                                                              no_console_errors: Any) -> None:
    browser.sign_in(KEY, "not-the-secret")
    assert browser.path.startswith("/console/signin")
    assert "Wrong access key id or secret access key" in browser.css("p.error").text
    assert browser.driver.get_cookie("gumshoe_console") is None
    assert "This server checks credentials" in browser.text()
    # The refusal is a 401 answer, which the browser's console notes: that entry only.
    assert {e["message"].split(" - ")[0] for e in browser.console_errors()} == {server.url + "/console/signin"}
    no_console_errors(browser)
    browser.sign_in(KEY, SECRET)
    browser.wait_for_path(r"^/console/accounts$")  # no graph yet
    assert f"Account {cw.ADMIN}" in browser.text() and "administers no behavior graph" in browser.text()


@pytest.mark.parametrize("key,secret", [(KEY, ""), (KEY, SECRET + "x"), ("AKIAUNKNOWN000000000", SECRET),
                                        (cw.ADMIN, "anything")])
def test_only_the_configured_secret_opens_a_session(server: Any, key: str, secret: str) -> None:
    client = ConsoleClient(server.url)
    try:
        answer = client.sign_in(key, secret)
        assert answer.status_code == 401 and "Wrong access key id or secret access key" in answer.text
        assert "gumshoe_console=" not in answer.headers.get("set-cookie", "")
    finally:
        client.close()


def test_a_session_ends_when_its_secret_changes(server: Any, tmp_path_factory: pytest.TempPathFactory) -> None:
    client = ConsoleClient(server.url)
    try:
        assert client.sign_in(KEY, SECRET).status_code == 303
        # The console calls the API as the key's account: CreateGraph from the Accounts page.
        made = client.post("/console/accounts/graph", {}, csrf=client.token)
        assert made.status_code == 303
        graphs = server.client(KEY, secret=SECRET).list_graphs()["GraphList"]
        assert len(graphs) == 1 and f":{cw.ADMIN}:graph:" in graphs[0]["Arn"]
        assert client.get("/console/accounts").status_code == 200
        assert server.config is not None
        server.config.write_text(CONFIG.replace(SECRET, "rotated-secret"))
        reload(server)  # a sigv4 server reloads on SIGHUP (or an operator's signed request)
        after = client.get("/console/accounts")
        assert after.status_code == 303 and after.headers["location"].startswith("/console/signin")
    finally:
        server.config.write_text(CONFIG)
        reload(server)
        client.close()


def reload(server: Any) -> None:
    done = server.log().count("reloaded config=")
    os.kill(server.proc.pid, signal.SIGHUP)
    wait_for(lambda: server.log().count("reloaded config=") > done, timeout=10, what="the reload")
