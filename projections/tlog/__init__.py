"""The verifiable log's storage, its integration into the Merkle tree, and checkpointing."""
