"""What drives the transactions: pull mode and its webhook, the doctor, the importer and clone
(the floor above cfgroll.transactions)."""
