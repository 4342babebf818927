"""The widget tokens' signing keys in Secrets Manager: every token names its key
(`kid`), the current and the previous key verify, a container reads the keys
again after 5 minutes, and a rotation keeps the tokens already handed out."""

from __future__ import annotations

import base64
import datetime as dt
import json

import pytest

from chalicelib.errors import UnauthorizedError


class Ticker:
    """A monotonic clock the test moves."""

    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Counting:
    """The Secrets Manager client, counting GetSecretValue calls."""

    def __init__(self, client):
        self.client = client
        self.reads = 0

    def get_secret_value(self, **kw):
        self.reads += 1
        return self.client.get_secret_value(**kw)


@pytest.fixture
def keys(aws, clock):
    from chalicelib import aws as aws_clients
    from chalicelib import settings
    from chalicelib.api.widget_keys import SigningKeys
    from chalicelib.api.widget_tokens import WidgetTokens

    ticker = Ticker()
    client = Counting(aws_clients.client("secretsmanager"))

    def container():
        return WidgetTokens(SigningKeys(client, settings.load().widget_key_secret, monotonic=ticker), clock)

    return type(
        "Keys",
        (),
        {
            "container": staticmethod(container),
            "ticker": ticker,
            "client": client,
            "secret": settings.load().widget_key_secret,
            "sm": aws_clients.client("secretsmanager"),
        },
    )


def claims_of(token: str) -> dict:
    payload = token[len("dgw_") :].split(".")[0]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def rotation_script():
    import importlib.util

    from tests.conftest import ROOT

    spec = importlib.util.spec_from_file_location("rotate_widget_key", ROOT / "scripts" / "rotate_widget_key.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


def rotate(keys, force=True):
    return rotation_script().rotate(keys.sm, keys.secret, force=force)


def test_a_token_carries_the_id_of_the_current_key(keys):
    token = keys.container().mint("ana", 0)["token"]
    current = keys.sm.get_secret_value(SecretId=keys.secret)  # AWSCURRENT
    assert claims_of(token)["k"] == current["VersionId"]


def test_after_a_rotation_the_previous_keys_tokens_verify_until_the_next_one(keys):
    container = keys.container()
    old = container.mint("ana", 0)["token"]
    new_kid = rotate(keys)
    keys.ticker.now += 300  # the container reads the keys again
    fresh = container.mint("ana", 0)["token"]
    assert claims_of(fresh)["k"] == new_kid != claims_of(old)["k"]
    assert container.verify(f"Bearer {old}").member_id == "ana"  # AWSPREVIOUS
    assert container.verify(f"Bearer {fresh}").member_id == "ana"  # AWSCURRENT
    rotate(keys)
    keys.ticker.now += 300
    with pytest.raises(UnauthorizedError):  # two rotations ago: no longer kept
        container.verify(f"Bearer {old}")
    assert container.verify(f"Bearer {fresh}").member_id == "ana"


def test_a_token_of_an_unknown_key_id_is_refused_with_401(api, keys):
    from chalicelib.api import edge

    api.member("ana")
    tokens = edge.widget_tokens()
    forged = tokens.sign({"m": "ana", "g": 0, "e": 2_000_000_000})
    claims = claims_of(forged)
    for kid in ("00000000-0000-0000-0000-000000000000", ""):
        body = base64.urlsafe_b64encode(json.dumps({**claims, "k": kid}).encode()).rstrip(b"=").decode()
        token = f"dgw_{body}.{tokens._signature(tokens.keys.current().secret, body)}"
        answer = api.get("/widget/api/member", key=token)
        assert answer.status == 401 and answer.error == "UNAUTHORIZED", answer
    assert api.get("/widget/api/member", key=forged).status == 200


def test_the_keys_are_read_once_per_five_minutes(keys):
    container = keys.container()
    token = container.mint("ana", 0)["token"]
    read = keys.client.reads
    assert read == 2  # AWSCURRENT and AWSPREVIOUS (none yet)
    keys.ticker.now += 299
    for _ in range(5):
        container.verify(f"Bearer {token}")
        container.mint("bo", 0)
    assert keys.client.reads == read
    keys.ticker.now += 1
    container.verify(f"Bearer {token}")
    assert keys.client.reads == read + 2


def test_a_container_that_has_not_seen_a_rotation_yet_verifies_the_new_keys_tokens(keys):
    stale = keys.container()
    stale.mint("ana", 0)  # reads the keys now
    rotate(keys)
    fresh_token = keys.container().mint("ana", 0)["token"]  # a container that read the new key
    keys.ticker.now += 10
    assert stale.verify(f"Bearer {fresh_token}").member_id == "ana"  # reads again at once
    # made-up key ids do not make every request read the secret
    reads = keys.client.reads
    for n in range(20):
        with pytest.raises(UnauthorizedError):
            stale.verify(f"Bearer {forge_kid(fresh_token, f'kid-{n}')}")
    assert keys.client.reads == reads


def forge_kid(token: str, kid: str) -> str:
    payload, signature = token[len("dgw_") :].split(".")
    body = base64.urlsafe_b64encode(json.dumps({**claims_of(token), "k": kid}).encode()).rstrip(b"=").decode()
    return f"dgw_{body}.{signature}"


def test_rotating_again_within_twenty_minutes_is_refused_unless_forced(keys):
    rotate_key = rotation_script().rotate
    created = keys.sm.list_secret_version_ids(SecretId=keys.secret)["Versions"][0]["CreatedDate"]
    with pytest.raises(RuntimeError, match="rotate again after"):
        rotate_key(keys.sm, keys.secret, now=created + dt.timedelta(minutes=19))
    kid = rotate_key(keys.sm, keys.secret, now=created + dt.timedelta(minutes=21))
    assert keys.sm.get_secret_value(SecretId=keys.secret)["VersionId"] == kid
    assert rotate_key(keys.sm, keys.secret, force=True) != kid


def test_the_rotation_script_moves_the_current_key_to_previous(keys, capsys):
    before = keys.sm.get_secret_value(SecretId=keys.secret)["VersionId"]
    rotation_script().main(["--secret", keys.secret, "--force"])
    after = keys.sm.get_secret_value(SecretId=keys.secret)["VersionId"]
    assert after != before and after in capsys.readouterr().out
    previous = keys.sm.get_secret_value(SecretId=keys.secret, VersionStage="AWSPREVIOUS")["VersionId"]
    assert previous == before
