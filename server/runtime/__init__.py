"""Everything that reads the change feed: fan-out to subscriptions and workers, the timer,
the flusher that batches writes to clients, metrics."""
