"""Deploy, update and rollback: the checks before, the transaction, the record after."""
