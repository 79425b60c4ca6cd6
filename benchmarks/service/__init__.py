"""The service around a trial: its overhead, API latency, recovery, the sample sweep."""
