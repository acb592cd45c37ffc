"""The verifiable log: RFC 6962 Merkle trees and the C2SP formats, pure and offline."""
