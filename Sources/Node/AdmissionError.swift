public import Contracts
public import LedgerCore

/// Why the node refused a transaction before ordering. Nothing refused changes state.
public enum AdmissionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Bytes did not decode (malformed, oversized, non-canonical) or the signature is bad.
    case invalid(TransactionError)
    /// A rule of the chain or of the contract refuses it (replay, expiry, unknown contract, role…).
    case rejected(Rejection)
    /// The same transaction is already waiting to be committed.
    case duplicate(Hash256)
    /// Too many transactions are waiting; retry later.
    case mempoolFull(limit: Int)
    /// The node is shutting down.
    case stopping
    /// The consortium's ordering service cannot take transactions now; retry later.
    case orderingUnavailable(String)
    /// A private call came without its payload, with one that does not match its commitment, or
    /// to a node that may not hold it (none of the organizations it names is this node's).
    case privatePayload(String)

    public var description: String {
        switch self {
        case .invalid(let error): "invalid transaction: \(error)"
        case .rejected(let rejection): "rejected: \(rejection)"
        case .duplicate(let id): "transaction \(id.hex) is already pending"
        case .mempoolFull(let limit): "mempool is full (\(limit) transactions); retry later"
        case .stopping: "the node is stopping"
        case .orderingUnavailable(let why): "the ordering service is unavailable, nothing was submitted; retry later (\(why))"
        case .privatePayload(let why): "private payload refused: \(why)"
        }
    }

    /// A stable short code for scripts and JSON.
    public var code: String {
        switch self {
        case .invalid(.badSignature): "badSignature"
        case .invalid(.tooLarge): "tooLarge"
        case .invalid: "malformed"
        case .rejected(let rejection): rejection.code.name
        case .duplicate: "duplicate"
        case .mempoolFull: "mempoolFull"
        case .stopping: "stopping"
        case .orderingUnavailable: "orderingUnavailable"
        case .privatePayload: "privatePayload"
        }
    }
}
