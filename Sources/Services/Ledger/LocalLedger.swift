public import Contracts
import FHIR
import Foundation
public import LedgerCore
public import Node
public import Storage
import Vault

/// A founding organization requested on the command line, as NAME[:TYPE].
public struct OrganizationSpec: Sendable {
    public let name: String
    public let type: OrganizationType

    public init(parsing text: String) throws {
        let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
        name = parts[0]
        try DataDirectory.checkName(name)
        let typeName = parts.count > 1 ? parts[1] : "operator"
        guard let type = OrganizationType(rawValue: typeName) else {
            throw ServiceError("unknown organization type “\(typeName)”; use one of \(OrganizationType.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        self.type = type
    }

    public init(name: String, type: OrganizationType) { (self.name, self.type) = (name, type) }
}

extension DataDirectory {
    /// Creates a new data directory: keys for each organization and for the node, and genesis.
    /// Key files are sealed with the directory's passphrase; `insecurePlainKeys` (throwaway
    /// directories only: benchmarks, experiments) keeps them in the clear and says so in node.json.
    @discardableResult
    public func initialize(chainId: String, organizations: [OrganizationSpec], nowMs: Int64 = SystemClock().nowMs(),
                           insecurePlainKeys: Bool = false) throws -> Block {
        guard !exists else { throw ServiceError("\(path) already holds a CareLedger; choose another --data") }
        guard insecurePlainKeys || resolvedPassphrase(confirm: true) != nil else {
            throw ServiceError("key files are sealed with a passphrase: set \(StoredKey.passphraseVariable) or pass --passphrase-file FILE "
                               + "(or --insecure-plain-keys for a throwaway directory)")
        }
        guard !organizations.isEmpty else { throw ServiceError("at least one founding organization is needed") }
        guard !chainId.isEmpty, chainId.utf8.count <= Limits.chainIdBytesMax else {
            throw ServiceError("chain id must be 1…\(Limits.chainIdBytesMax) bytes")
        }
        let names = organizations.map(\.name) + ["node"]
        guard Set(names).count == names.count else { throw ServiceError("organization names must be distinct and not “node”") }
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let lock = try lock()
        defer { lock.release() }
        let nodeKeys = IdentityKeys.generate()
        try saveKey("node", nodeKeys, plain: insecurePlainKeys)
        var founders: [Founder] = []
        for org in organizations {
            let keys = IdentityKeys.generate()
            try saveKey(org.name, keys, plain: insecurePlainKeys)
            founders.append(Founder(keys: keys, label: org.name, type: org.type))
        }
        let store = try SQLiteLedgerStore(path: ledgerPath)
        let block = try Genesis.create(in: store, chainId: chainId, founders: founders, ordererKeys: nodeKeys, timeMs: nowMs)
        try write(settings: NodeSettings(chainId: chainId, nodeKey: "node", administrator: organizations[0].name,
                                         blockTransactionsMax: 2_000, blockDelayMs: 10, plainKeys: insecurePlainKeys ? true : nil,
                                         keyedRecordIDsOnly: true, searchIndexVersion: FHIRIndexer.version))
        return block
    }
}

/// A running embedded node over a data directory, holding its lock: the node, the custodian's
/// access service, and the client that signs and submits for the keys in the directory.
public final class LocalLedger: Sendable {
    public let directory: DataDirectory
    public let settings: NodeSettings
    public let store: SQLiteLedgerStore
    public let node: LedgerNode
    /// The custodian side: encrypted records, consent decisions, the audit log.
    public let access: AccessService
    /// Sequence numbers, signing, submission and waiting.
    public let client: LedgerClient
    /// The FHIR facade over this node's records (patients registered through it keep their keys in the directory).
    public let fhir: FHIRService
    /// A consortium node's way to records other organizations hold (their nodes); nil on a single node.
    public let recordPeer: (any RecordPeer)?
    /// A consortium node's mutual-TLS identity for its peer listener (`ConsortiumSettings.peerPort`).
    public let peerTLS: PeerTLS?
    /// A consortium node's endorser of endorsed private calls (`Endorser`); nil on a single node.
    public let endorser: Endorser?
    /// For a consortium node that started with the genesis block alone: whether it joined from a
    /// checkpoint snapshot, and which, or why it replays from genesis.
    public let joined: String?
    private let lock: DirectoryLock
    /// Forgets the keys kept for a patient once she rotated to keys of her own (`FHIRService.forgetSupersededKeys`).
    private let keyJanitor: Task<Void, Never>

    private init(directory: DataDirectory, settings: NodeSettings, store: SQLiteLedgerStore, node: LedgerNode, access: AccessService,
                 recordIDs: FHIRRecordIDs, peerTLS: PeerTLS?, endorser: Endorser?, joined: String?, lock: DirectoryLock,
                 commits: AsyncStream<CommittedBlock>) {
        self.peerTLS = peerTLS
        self.joined = joined
        self.endorser = endorser
        self.directory = directory
        self.settings = settings
        self.store = store
        self.node = node
        self.access = access
        self.client = LedgerClient(node: node, endorser: endorser)
        self.fhir = FHIRService(client: client, access: access, patientKeys: DirectoryPatientKeys(directory: directory), recordIDs: recordIDs)
        self.recordPeer = node.configuration.privateDataSource as? any RecordPeer
        self.lock = lock
        let fhir = self.fhir
        keyJanitor = Task {
            for await block in commits {
                let senders = zip(block.senders, block.results).filter { $0.1.isAccepted }.map(\.0)
                _ = try? fhir.forgetSupersededKeys(of: senders)
            }
        }
    }

    /// Opens the node over the directory's store, taking its lock. `clock` is the orderer's (the
    /// system clock but in tests that move time).
    public static func open(_ directory: DataDirectory, blockTransactionsMax: Int? = nil, blockDelayMs: Int? = nil,
                            clock: any LedgerClock = SystemClock()) async throws -> LocalLedger {
        let settings = try directory.settings()
        let lock = try directory.lock()
        let store = try directory.openStore()
        var configuration = NodeConfiguration(blockTransactionsMax: blockTransactionsMax ?? settings.blockTransactionsMax,
                                              blockDelayMs: blockDelayMs ?? settings.blockDelayMs)
        var peerTLS: PeerTLS?, endorser: Endorser?, joined: String?
        if let consortium = settings.consortium {
            (peerTLS, endorser, joined) = try await Consortium.configure(&configuration, consortium, chainId: settings.chainId,
                                                                         organizationKeys: try directory.loadKey(consortium.organization),
                                                                         store: store, snapshots: directory.snapshotsURL, clock: clock)
        }
        let nodeKeys = try directory.loadKey(settings.nodeKey)
        let sealingKeys = try settings.sealingKey.map { try directory.loadKey($0) } ?? nodeKeys
        let node = try await LedgerNode(store: store, ordererKeys: sealingKeys, configuration: configuration, clock: clock)
        // The embedded node is the custodian of every organization whose key is in the directory.
        var custodians: [IdentityKeys] = []
        for name in try directory.keyNames() where name != settings.nodeKey && name != settings.sealingKey {
            // Only organizations' keys are opened (a sealed file costs a key derivation).
            guard let id = try? directory.keyID(name), Directory.identity(id, in: node.state)?.kind == .organization else { continue }
            custodians.append(try directory.loadKey(name))
        }
        let access = AccessService(node: node, vault: try SQLiteVaultStore(path: directory.vaultPath), custodians: custodians,
                                   indexKey: BlindIndexKey.derive(from: nodeKeys.agreement))
        // Writes a crash interrupted between storing and registering: publish or remove them.
        try access.recoverPendingWrites()
        // Birth dates and genders a vault of an earlier release holds readable move to the blind index.
        _ = try access.blindLegacyIndexValues()
        // A vault indexed by an earlier release's search parameters is indexed again from its records.
        if (settings.searchIndexVersion ?? 1) < FHIRIndexer.version {
            _ = try access.rebuildSearchIndex()
            var upgraded = settings
            upgraded.searchIndexVersion = FHIRIndexer.version
            try directory.write(settings: upgraded)
        }
        let ledger = LocalLedger(directory: directory, settings: settings, store: store, node: node, access: access,
                                 recordIDs: FHIRRecordIDs(key: RecordIDKey.derive(from: nodeKeys.agreement),
                                                          legacyIDs: settings.keyedRecordIDsOnly != true), peerTLS: peerTLS, endorser: endorser,
                                 joined: joined, lock: lock, commits: await node.commits())
        // Keys of patients who took control while the node was down (or before the deletion was written).
        try ledger.fhir.forgetSupersededKeys(of: try directory.keyNames().filter { $0.hasPrefix("patient-") }.compactMap { try? directory.keyID($0) })
        return ledger
    }

    /// Signs a raw call from `keys` with the sender's next sequence number: for `careledger submit`, whose user
    /// names the contract, method and arguments, and for calls no typed method describes.
    public func sign(_ keys: IdentityKeys, sender: IdentityID? = nil, contract: String, method: String, args: CanonicalValue,
                     expiryHeight: UInt64? = nil) -> Transaction {
        client.sign(keys, sender: sender, contract: contract, method: method, args: args, expiryHeight: expiryHeight)
    }

    /// Signs a call of a typed contract method from `keys` with the sender's next sequence number.
    public func sign(_ keys: IdentityKeys, sender: IdentityID? = nil, _ call: some ContractMethod, expiryHeight: UInt64? = nil) -> Transaction {
        client.sign(keys, sender: sender, call, expiryHeight: expiryHeight)
    }

    /// Submits a transaction and waits for it; a refusal (at admission or execution) is thrown as `Refused`.
    @discardableResult
    public func commit(_ transaction: Transaction) async throws -> CommitReceipt { try await client.commit(transaction) }

    /// Forgets locally tracked sequence numbers (after a refusal the caller provoked on purpose).
    public func resetSequence(_ sender: IdentityID) { client.resetSequence(sender) }

    /// The active on-chain identity of the key named `name` in the directory.
    public func activeIdentity(_ name: String) throws -> Identity {
        let keys = try directory.loadKey(name)
        guard let identity = Directory.identity(keys.derivedID, in: node.state), !identity.revoked else {
            throw ServiceError("“\(name)” is not an active identity on this ledger")
        }
        return identity
    }

    public func close() async {
        keyJanitor.cancel()
        await node.stop()
        lock.release()
    }
}
