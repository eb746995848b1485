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
    /// Where decisions about a patient's ledger objects are logged before they are shown to a
    /// requester (`decide`); nil for the node operator's own reads (the CLI), which name no requester.
    public let audit: AccessService?

    public init(state: any StateReader, headTimeMs: Int64, custodians: Set<IdentityID> = [], audit: AccessService? = nil) {
        (self.state, self.headTimeMs, self.custodians, self.audit) = (state, headTimeMs, custodians, audit)
    }

    /// The view of a running node, logging to `audit`'s access log.
    public static func of(_ node: LedgerNode, audit: AccessService?) async -> LedgerView {
        LedgerView(state: node.state, headTimeMs: await node.headHeader.timeMs, custodians: Set(audit?.custodianIDs ?? []), audit: audit)
    }

    /// Decides whether `requester` sees an object about `patient` (`allowed`, a `ReadRules`
    /// answer) and logs the decision, permit or deny, in the patient's access log durably before
    /// anything is shown (security review finding 10). `requester` nil is the node operator
    /// reading its own store (the CLI): no rule, no log. A node without an access log shows a
    /// patient's objects to no requester.
    func decide(_ requester: Identity?, patient: IdentityID, object: Hash256, purpose: Purpose,
                allowed: (Identity) -> Bool, refusal: String) async throws(ServiceError) {
        guard let requester else { return }
        guard let audit else { throw ServiceError(.unavailable, "this node keeps no access log, so it shows no patient's data") }
        let permitted = allowed(requester)
        do {
            try await audit.logObjectReads([ObjectRead(requester: requester.id, patient: patient, object: object, purpose: purpose, permitted: permitted)])
        } catch { throw ServiceError(.unavailable, "the access decision cannot be logged: \(error)") }
        guard permitted else { throw .forbidden(refusal) }
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
    /// The private collections the store holds: a key missing from shared state is looked up in each.
    private let namespaces: [String]
    public init(store: any LedgerStore) {
        self.store = store
        namespaces = ((try? store.privateNamespaces()) ?? []).sorted()
    }
    public func value(for key: String) -> [UInt8]? {
        if let value = try? store.state(key) { return value }
        for namespace in namespaces { if let value = try? store.state(namespace + key) { return value } }
        return nil
    }
}
