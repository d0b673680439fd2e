"""What a transaction calls, below the orchestrators and the transactions: the health gate, the
checks before a change (preflight), what runs (snapshot), hooks, data dumps and copies,
notifications, the mirror and retention."""
