"""The imports bucket (contract §25): each import's lines as one S3 object, read
back by byte ranges (a chunk of lines per job task)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Optional

from botocore.exceptions import ClientError

MISSING_CODES = ("404", "NoSuchKey", "NotFound", "403", "AccessDenied")


class ImportFiles:
    def __init__(self, s3, bucket: str):
        self.s3 = s3
        self.bucket = bucket

    def put(self, key: str, data: bytes) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType="application/x-ndjson")

    def size(self, key: str) -> Optional[int]:
        """The object's size; None when there is none (or it may not be read)."""
        try:
            return int(self.s3.head_object(Bucket=self.bucket, Key=key)["ContentLength"])
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in MISSING_CODES:
                return None
            raise

    def copy(self, source: str, key: str) -> None:
        """A copy of an upload, so that the import reads what was there when it was asked for."""
        self.s3.copy_object(Bucket=self.bucket, Key=key, CopySource={"Bucket": self.bucket, "Key": source})

    def delete(self, key: str) -> None:
        self.s3.delete_object(Bucket=self.bucket, Key=key)

    def read_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes [start, end) of the object."""
        if end <= start:
            return b""
        body = self.s3.get_object(Bucket=self.bucket, Key=key, Range=f"bytes={start}-{end - 1}")["Body"]
        return body.read()

    def line_offsets(self, key: str) -> Iterator[tuple[int, int, bool]]:
        """(start, end, blank) of every line of the object, streamed (the object is not held)."""
        body = self.s3.get_object(Bucket=self.bucket, Key=key)["Body"]
        offset = 0
        rest = b""
        for piece in body.iter_chunks(1024 * 1024):
            rest += piece
            lines = rest.split(b"\n")
            rest = lines.pop()
            for line in lines:
                yield offset, offset + len(line) + 1, not line.strip()
                offset += len(line) + 1
        if rest:
            yield offset, offset + len(rest), not rest.strip()
