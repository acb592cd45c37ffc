"""The write side of the custody ledger: events, rules, the bitemporal fold and the application."""
