"""What cfgroll does: deploy, rollback, checkout and the history views, as transactions over
the store (`cfgroll.store`) and the engine (`cfgroll.engine`). Nothing here prints: progress
goes to a `Reporter`, results come back as values."""
