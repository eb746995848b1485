public import Contracts
public import LedgerCore
public import Node
public import Storage

/// A JSON object as the HTTP API and the CLI's `--json` print it (keys in snake_case).
public typealias JSONObject = [String: Any]

/// What a read model reads from: committed state, the time of the head block (the ledger's "now":
/// expiry and recall are judged by it, never by a wall clock), and the organizations whose records
/// this node holds. Built from a running node (the server) or from the store alone (read-only CLI
/// commands, which work while a node runs).
public struct LedgerView {
    public let state: any StateReader
    /// Time of the last committed block, milliseconds since the Unix epoch.
    public let headTimeMs: Int64
    /// The organizations this node is custodian for.
    public let custodians: Set<IdentityID>

    public init(state: any StateReader, headTimeMs: Int64, custodians: Set<IdentityID> = []) {
        (self.state, self.headTimeMs, self.custodians) = (state, headTimeMs, custodians)
    }

    /// The view of a running node.
    public static func of(_ node: LedgerNode, custodians: Set<IdentityID> = []) async -> LedgerView {
        LedgerView(state: node.state, headTimeMs: await node.headHeader.timeMs, custodians: custodians)
    }

    /// The view of a store with no node running over it (reads go straight to the store).
    public static func of(_ store: any LedgerStore, custodians: Set<IdentityID> = []) throws -> LedgerView {
        guard let head = try store.head() else { throw ServiceError.notFound("the store has no genesis block") }
        return LedgerView(state: StoreStateReader(store: store), headTimeMs: head.timeMs, custodians: custodians)
    }
}

/// Committed state read directly from a store, for read-only commands.
public struct StoreStateReader: StateReader {
    public let store: any LedgerStore
    public init(store: any LedgerStore) { self.store = store }
    public func value(for key: String) -> [UInt8]? { try? store.state(key) }
}
