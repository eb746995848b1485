public import Contracts
import Foundation
public import LedgerCore
public import Storage

/// The transaction log as `/v1` and the web portal show it: pages of recent transactions, block
/// headers and the signed tree head. One function per answer, so the explorer page and the JSON
/// API cannot disagree about what a requester sees or what a tree head signs.
extension LedgerView {
    /// Up to `limit` committed transactions, newest first, from log index `before` down (exclusive),
    /// each as `transaction(_:location:requester:detail:)` shows it to `requester` (redacted unless
    /// it concerns them). `next` is the `before` of the following page, nil at the start of the log.
    public func recentTransactions(in store: any LedgerStore, before: UInt64, limit: Int,
                                   requester: Identity) throws -> (transactions: [JSONObject], next: UInt64?) {
        precondition(limit > 0, "a page holds at least one transaction")
        var items: [JSONObject] = []
        var index = before
        while index > 0, items.count < limit {
            index -= 1
            guard let bytes = try store.transactionBytes(logIndex: index) else { break }
            let transaction = try Transaction(decoding: bytes)
            guard let location = try store.location(of: transaction.id) else { break }
            items.append(self.transaction(transaction, location: location, requester: requester, detail: false))
        }
        return (items, index > 0 ? index : nil)
    }

    /// A block header: hash, previous hash, time, transaction count and root, tree size and root,
    /// results root, state root, orderer key, chain id. Headers name no party, so anyone may read them.
    public static func block(_ header: BlockHeader) -> JSONObject {
        ["height": header.height, "hash": header.hash.hex, "previous_hash": header.previousHash.hex, "time_ms": header.timeMs,
         "transaction_count": header.transactionCount, "transactions_root": header.transactionsRoot.hex, "tree_size": header.logSize,
         "sha256_root_hash": header.logRoot.base64, "results_root": header.resultsRoot.hex, "state_root": header.stateRoot.hex,
         "orderer_key": Hex.encode(header.ordererKey.rawValue), "chain_id": header.chainId]
    }
}

/// RFC 6962 §4.3 get-sth: a tree head signed by the node with Ed25519 over §3.5's
/// TreeHeadSignature, wrapped as a TLS DigitallySigned with SignatureScheme ed25519 (0x0807).
/// `GET /v1/log/sth`, the portal's explorer and the browser's verifier (portal `verify.js`,
/// checked against the same vectors: `PortalVectorTests`) all build the signed bytes here.
public enum SignedTreeHead {
    /// TLS SignatureScheme ed25519.
    public static let signatureScheme: [UInt8] = [0x08, 0x07]

    /// The bytes signed: version v1 (0), signature type tree_hash (1), timestamp (ms, uint64),
    /// tree_size (uint64), sha256_root_hash (32 bytes); integers big-endian.
    public static func message(timestampMs: UInt64, treeSize: UInt64, root: Hash256) -> [UInt8] {
        [0, 1] + bigEndian(timestampMs) + bigEndian(treeSize) + root.bytes
    }

    /// The get-sth JSON of `head`, signed by `keys`: `tree_size`, `timestamp`, `sha256_root_hash`,
    /// `tree_head_signature` (base64 DigitallySigned).
    public static func json(_ head: BlockHeader, keys: IdentityKeys) -> JSONObject {
        let signature = keys.sign(message(timestampMs: UInt64(head.timeMs), treeSize: head.logSize, root: head.logRoot))
        precondition(signature.count == 64, "an Ed25519 signature is 64 bytes")
        let digitallySigned = signatureScheme + [UInt8(signature.count >> 8), UInt8(signature.count & 0xff)] + signature
        return ["tree_size": head.logSize, "timestamp": head.timeMs, "sha256_root_hash": head.logRoot.base64,
                "tree_head_signature": Data(digitallySigned).base64EncodedString()]
    }

    /// The signature inside a base64 DigitallySigned, if it is one with scheme ed25519 and a 64-byte signature.
    public static func signature(digitallySigned text: String) -> [UInt8]? {
        guard let data = Data(base64Encoded: text) else { return nil }
        let bytes = Array(data)
        guard bytes.count == 4 + 64, Array(bytes[0..<2]) == signatureScheme, bytes[2] == 0, bytes[3] == 64 else { return nil }
        return Array(bytes[4...])
    }

    static func bigEndian(_ value: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: value >> (56 - 8 * $0)) } }
}
