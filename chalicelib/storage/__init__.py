"""DynamoDB and SQS adapters: the store, where every item lives, index pages, queues."""
