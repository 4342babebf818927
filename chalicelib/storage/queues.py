"""Sending messages to an SQS queue, ten per request (the notification queue's
outbox pointers, the job queue's tasks)."""

from __future__ import annotations

import json
from typing import Optional


class QueueSender:
    what = "messages"

    def __init__(self, sqs, queue_name: str):
        self.sqs = sqs
        self.queue_name = queue_name
        self._url: Optional[str] = None

    @property
    def url(self) -> str:
        if self._url is None:
            self._url = self.sqs.get_queue_url(QueueName=self.queue_name)["QueueUrl"]
        return self._url

    def send(self, messages: list[dict], delay_seconds: int = 0) -> None:
        """`messages` as JSON, ten per request; each visible after `delay_seconds` (at most 900)."""
        delayed = {"DelaySeconds": delay_seconds} if delay_seconds else {}
        for start in range(0, len(messages), 10):
            batch = messages[start : start + 10]
            response = self.sqs.send_message_batch(
                QueueUrl=self.url,
                Entries=[
                    {"Id": str(i), "MessageBody": json.dumps(m, separators=(",", ":")), **delayed}
                    for i, m in enumerate(batch)
                ],
            )
            if response.get("Failed"):
                raise RuntimeError(f"SQS refused {len(response['Failed'])} {self.what}")
