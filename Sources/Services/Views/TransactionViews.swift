public import Contracts
import Foundation
public import LedgerCore
public import Storage

/// Committed transactions as the HTTP API shows them. Their content — sender, contract, method,
/// arguments, result and bytes — only to those `ReadRules.mayReadTransaction` lets read it (security
/// review finding 1: arguments name patients, sensitivity categories, diagnoses and drugs); to
/// everyone else what an inclusion proof needs: the id, log index, height and leaf hash.
extension LedgerView {
    /// One transaction: everything for a reader it concerns, else the proof fields alone
    /// (`"redacted": true`). `detail` adds the sequence, key, arguments and signature.
    public func transaction(_ transaction: Transaction, location: TransactionLocation, requester: Identity, detail: Bool) -> JSONObject {
        var out: JSONObject = [
            "id": transaction.id.hex, "log_index": location.logIndex, "height": location.height,
            "leaf_hash": MerkleHashing.leafHash(transaction.bytes).base64,
        ]
        guard ReadRules.mayReadTransaction(transaction.body, requester, state) else {
            out["redacted"] = true
            return out
        }
        out["sender"] = transaction.body.sender.hex
        out["contract"] = transaction.body.contract
        out["method"] = transaction.body.method
        out["result"] = Self.resultJSON(location.result)
        guard detail else { return out }
        out["sequence"] = transaction.body.sequence
        out["public_key"] = Hex.encode(transaction.body.publicKey.rawValue)
        out["args"] = Self.json(transaction.body.args)
        out["signature"] = Hex.encode(transaction.signature)
        if let expiry = transaction.body.expiryHeight { out["expiry_height"] = expiry }
        return out
    }

    /// A transaction's canonical bytes (its log leaf), for a reader it concerns.
    public func transactionBytes(_ transaction: Transaction, requester: Identity) throws(ServiceError) -> [UInt8] {
        guard ReadRules.mayReadTransaction(transaction.body, requester, state) else {
            throw .forbidden("transaction \(transaction.id.hex) does not concern you: its leaf hash is in GET /v1/txs/\(transaction.id.hex)")
        }
        return transaction.bytes
    }

    public static func resultJSON(_ result: TransactionResult) -> JSONObject {
        ["code": result.code, "name": ResultCode(rawValue: result.code)?.name ?? "unknown", "accepted": result.isAccepted, "message": result.message]
    }

    /// Canonical arguments as JSON: byte strings as "0x…" hex, as the CLI accepts them.
    public static func json(_ value: CanonicalValue) -> Any {
        switch value {
        case .null: NSNull()
        case .bool(let flag): flag
        case .int(let number): number
        case .bytes(let bytes): "0x" + Hex.encode(bytes)
        case .string(let text): text
        case .list(let items): items.map(json)
        case .map(let entries): entries.mapValues(json)
        }
    }
}
