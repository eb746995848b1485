import Contracts
import Foundation
import LedgerCore
import Node
import Storage
import Vault

/// A founding organization requested on the command line, as NAME[:TYPE].
struct OrganizationSpec {
    let name: String
    let type: OrganizationType

    init(parsing text: String) throws {
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        name = parts[0]
        try DataDirectory.checkName(name)
        let typeName = parts.count > 1 ? parts[1] : "operator"
        guard let type = OrganizationType(rawValue: typeName) else {
            throw CLIError("unknown organization type “\(typeName)”; use one of \(OrganizationType.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        self.type = type
    }

    init(name: String, type: OrganizationType) {
        self.name = name
        self.type = type
    }
}

extension DataDirectory {
    /// Creates a new data directory: keys for each organization and for the node, and genesis.
    @discardableResult
    func initialize(chainId: String, organizations: [OrganizationSpec], nowMs: Int64 = SystemClock().nowMs()) throws -> Block {
        guard !exists else { throw CLIError("\(path) already holds a CareLedger; choose another --data") }
        guard !organizations.isEmpty else { throw CLIError("at least one founding organization is needed") }
        guard !chainId.isEmpty, chainId.utf8.count <= Limits.chainIdBytesMax else {
            throw CLIError("chain id must be 1…\(Limits.chainIdBytesMax) bytes")
        }
        let names = organizations.map(\.name) + ["node"]
        guard Set(names).count == names.count else { throw CLIError("organization names must be distinct and not “node”") }
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let lock = try lock()
        defer { lock.release() }
        let nodeKeys = IdentityKeys.generate()
        try saveKey("node", nodeKeys)
        var founders: [Founder] = []
        for org in organizations {
            let keys = IdentityKeys.generate()
            try saveKey(org.name, keys)
            founders.append(Founder(keys: keys, label: org.name, type: org.type))
        }
        let store = try SQLiteLedgerStore(path: ledgerPath)
        let block = try Genesis.create(in: store, chainId: chainId, founders: founders, ordererKeys: nodeKeys, timeMs: nowMs)
        try write(settings: NodeSettings(chainId: chainId, nodeKey: "node", administrator: organizations[0].name,
                                         blockTransactionsMax: 2_000, blockDelayMs: 10))
        return block
    }
}

/// A running embedded node over a data directory, holding its lock, with signing helpers.
final class LocalLedger {
    let directory: DataDirectory
    let settings: NodeSettings
    let store: SQLiteLedgerStore
    let node: LedgerNode
    /// The custodian side: encrypted records, consent decisions, the audit log.
    let access: AccessService
    private let lock: DirectoryLock
    private var nextSequence: [IdentityID: UInt64] = [:]

    private init(directory: DataDirectory, settings: NodeSettings, store: SQLiteLedgerStore, node: LedgerNode, access: AccessService,
                 lock: DirectoryLock) {
        self.directory = directory
        self.settings = settings
        self.store = store
        self.node = node
        self.access = access
        self.lock = lock
    }

    static func open(_ directory: DataDirectory, blockTransactionsMax: Int? = nil, blockDelayMs: Int? = nil) async throws -> LocalLedger {
        let settings = try directory.settings()
        let lock = try directory.lock()
        let store = try directory.openStore()
        let configuration = NodeConfiguration(blockTransactionsMax: blockTransactionsMax ?? settings.blockTransactionsMax,
                                              blockDelayMs: blockDelayMs ?? settings.blockDelayMs)
        let nodeKeys = try directory.loadKey(settings.nodeKey)
        let node = try await LedgerNode(store: store, ordererKeys: nodeKeys, configuration: configuration)
        // The embedded node is the custodian of every organization whose key is in the directory.
        var custodians: [IdentityKeys] = []
        for name in try directory.keyNames() where name != settings.nodeKey {
            guard let keys = try? directory.loadKey(name),
                  Directory.identity(keys.derivedID, in: node.state)?.kind == .organization else { continue }
            custodians.append(keys)
        }
        let access = AccessService(node: node, vault: try SQLiteVaultStore(path: directory.vaultPath), custodians: custodians,
                                   indexKey: BlindIndexKey.derive(from: nodeKeys.agreement))
        return LocalLedger(directory: directory, settings: settings, store: store, node: node, access: access, lock: lock)
    }

    /// Signs a transaction from `keys` with the sender's next sequence number.
    func sign(_ keys: IdentityKeys, sender: IdentityID? = nil, contract: String, method: String, args: CanonicalValue,
              expiryHeight: UInt64? = nil) -> Transaction {
        let sender = sender ?? keys.derivedID
        let sequence = nextSequence[sender] ?? BlockExecutor.lastSequence(of: sender, in: node.state) + 1
        nextSequence[sender] = sequence + 1
        let body = TransactionBody(chainId: settings.chainId, sender: sender, publicKey: keys.signingPublicKey, sequence: sequence,
                                   contract: contract, method: method, args: args, expiryHeight: expiryHeight)
        return Transaction.sign(body, with: keys)
    }

    /// Forgets locally tracked sequence numbers (after a rejection at admission).
    func resetSequence(_ sender: IdentityID) { nextSequence[sender] = nil }

    func close() async {
        await node.stop()
        lock.release()
    }
}
