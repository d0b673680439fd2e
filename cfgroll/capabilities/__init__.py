"""What a release carries besides its files and images: hooks, retention, the old
scripts' backups (import), and the store's health (doctor)."""
