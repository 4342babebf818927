"""Rotate the widget tokens' signing key (see docs/operations-widget-keys.md).

    python scripts/rotate_widget_key.py --secret dangol-prod-widget-signing-key [--force]

Puts a new random key as the secret's AWSCURRENT version; the one it replaces
becomes AWSPREVIOUS and keeps verifying the tokens it signed until they expire.
Uses your AWS credentials (or AWS_ENDPOINT_URL, e.g. the local service's moto).
"""
from __future__ import annotations

import argparse
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from chalicelib import aws, settings  # noqa: E402
from chalicelib.widget_keys import rotate  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--secret", default=settings.load().widget_key_secret,
                        help="the secret's name or ARN (the stack output WidgetSigningKeySecret)")
    parser.add_argument("--force", action="store_true",
                        help="rotate even if the current key is younger than 20 minutes")
    args = parser.parse_args(argv)
    kid = rotate(aws.client("secretsmanager"), args.secret, force=args.force)
    print(f"new current key id: {kid}")


if __name__ == "__main__":
    main()
