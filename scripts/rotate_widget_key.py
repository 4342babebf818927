"""Rotate the widget tokens' signing key (see docs/operations-widget-keys.md).

    python scripts/rotate_widget_key.py --secret dangol-prod-widget-signing-key [--force]

Puts a new random key as the secret's AWSCURRENT version; the one it replaces
becomes AWSPREVIOUS and keeps verifying the tokens it signed until they expire.
Uses your AWS credentials (or AWS_ENDPOINT_URL, e.g. the local service's moto).
"""

from __future__ import annotations

import argparse
import datetime as dt
import pathlib
import secrets
import sys
import uuid

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from chalicelib import aws, settings  # noqa: E402
from chalicelib.api.widget_keys import CURRENT, MIN_ROTATION_INTERVAL_SECONDS  # noqa: E402


def rotate(client, secret_id: str, now=None, force: bool = False) -> str:
    """Put a new random key as the secret's AWSCURRENT version (Secrets Manager
    moves AWSPREVIOUS to the version that was current); returns its key id.
    Refused when the current key is younger than MIN_ROTATION_INTERVAL_SECONDS,
    unless `force` (a leaked key: every token it signed stops working once the
    containers read the keys again, after at most 5 minutes — rotate twice)."""
    if not force:
        versions = client.list_secret_version_ids(SecretId=secret_id)["Versions"]
        current = next((v for v in versions if CURRENT in v.get("VersionStages", [])), None)
        if current is not None and current.get("CreatedDate") is not None:
            moment = now or dt.datetime.now(dt.UTC)
            age = (moment - current["CreatedDate"]).total_seconds()
            if age < MIN_ROTATION_INTERVAL_SECONDS:
                raise RuntimeError(
                    f"the current key is {int(age)} s old; rotate again after "
                    f"{int(MIN_ROTATION_INTERVAL_SECONDS)} s (tokens it signed are still in use), "
                    "or force it"
                )
    answer = client.put_secret_value(
        SecretId=secret_id, SecretString=secrets.token_urlsafe(48), ClientRequestToken=str(uuid.uuid4())
    )
    return answer["VersionId"]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--secret",
        default=settings.load().widget_key_secret,
        help="the secret's name or ARN (the stack output WidgetSigningKeySecret)",
    )
    parser.add_argument(
        "--force", action="store_true", help="rotate even if the current key is younger than 20 minutes"
    )
    args = parser.parse_args(argv)
    kid = rotate(aws.client("secretsmanager"), args.secret, force=args.force)
    print(f"new current key id: {kid}")


if __name__ == "__main__":
    main()
