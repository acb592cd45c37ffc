"""A C2SP tlog-witness of other logs (c2sp.org/tlog-witness): its HTTP door and its state.

The decisions are `ledger.tlog.witness`'s; `custody witness serve` runs this door."""
