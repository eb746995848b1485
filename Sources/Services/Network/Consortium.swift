import Contracts
import FHIR
public import Foundation
public import LedgerCore
public import Node
import Ordering
public import Storage

/// A consortium of organizations, each with its own node: the data directories that share one
/// genesis, and the node configuration that orders through etcd and attests with the
/// organization's key.
public enum Consortium {
    /// One organization of a consortium being created: its name, type and data directory.
    public struct Member: Sendable {
        public let spec: OrganizationSpec
        public let directory: DataDirectory
        /// The node's base URL for the other nodes (its peer listener's).
        public let peerURL: String?
        /// The port its peer listener (mutual TLS) listens on.
        public let peerPort: Int?
        /// Blocks between its node's checkpoint snapshots (nil: the default).
        public let checkpointBlocks: UInt64?
        /// Blocks of the shared log its node keeps in etcd (nil: the default).
        public let logRetentionBlocks: UInt64?

        public init(spec: OrganizationSpec, directory: DataDirectory, peerURL: String? = nil, peerPort: Int? = nil, checkpointBlocks: UInt64? = nil,
                    logRetentionBlocks: UInt64? = nil) {
            (self.spec, self.directory, self.peerURL, self.peerPort, self.checkpointBlocks) = (spec, directory, peerURL, peerPort, checkpointBlocks)
            self.logRetentionBlocks = logRetentionBlocks
        }
    }

    /// Creates one data directory per organization, all holding the same genesis block. Each
    /// directory holds only its own organization's private key, its node's own key (tokens, blind
    /// index, record ids), and the block-sealing key the consortium's nodes share (a block's
    /// authority is the quorum's attestations, not that signature); key files are sealed as
    /// `DataDirectory.initialize` seals them.
    @discardableResult
    public static func create(chainId: String, members: [Member], etcdEndpoints: [String], finalityQuorum: Int? = nil,
                              nowMs: Int64 = SystemClock().nowMs(), insecurePlainKeys: Bool = false) throws -> Block {
        guard members.count >= 1 else { throw ServiceError("a consortium needs at least one organization") }
        guard Set(members.map(\.spec.name)).count == members.count, !members.contains(where: { ["node", "sealing"].contains($0.spec.name) }) else {
            throw ServiceError("organization names must be distinct and not “node” or “sealing”")
        }
        guard !chainId.isEmpty, chainId.utf8.count <= Limits.chainIdBytesMax else { throw ServiceError("chain id must be 1…\(Limits.chainIdBytesMax) bytes") }
        guard !etcdEndpoints.isEmpty else { throw ServiceError("a consortium needs at least one etcd endpoint") }
        for member in members where member.directory.exists {
            throw ServiceError("\(member.directory.path) already holds a CareLedger; choose another directory")
        }
        let sealing = IdentityKeys.generate()
        let keys = members.map { _ in IdentityKeys.generate() }
        let founders = zip(members, keys).map { Founder(keys: $1, label: $0.spec.name, type: $0.spec.type) }
        // A consortium's founders decide its membership together: no one organization can admit
        // others (which would also let it make up a quorum of attesters by itself).
        let (genesis, commit) = try Genesis.make(chainId: chainId, founders: founders, ordererKeys: sealing, timeMs: nowMs,
                                                 finalityQuorum: finalityQuorum, foundersDecide: true)
        for (member, own) in zip(members, keys) {
            try write(member, keys: own, chainId: chainId, genesis: commit, sealing: sealing, etcdEndpoints: etcdEndpoints,
                      insecurePlainKeys: insecurePlainKeys)
        }
        return genesis
    }

    /// Creates the data directory of an organization joining a running consortium: its own new
    /// key, a node key, the consortium's sealing key, the genesis block (its transactions executed
    /// again and its roots checked); its node replays the rest from etcd or its peers. Returns the
    /// organization's keys: the founders admit it (`membership.admitOrganization`) before its node
    /// counts.
    public static func join(_ member: Member, chainId: String, genesis: Block, sealing: IdentityKeys, etcdEndpoints: [String],
                            insecurePlainKeys: Bool = false) throws -> IdentityKeys {
        guard !member.directory.exists else { throw ServiceError("\(member.directory.path) already holds a CareLedger; choose another directory") }
        let keys = IdentityKeys.generate()
        try write(member, keys: keys, chainId: chainId, genesis: try Genesis.commit(of: genesis), sealing: sealing, etcdEndpoints: etcdEndpoints,
                  insecurePlainKeys: insecurePlainKeys)
        return keys
    }

    private static func write(_ member: Member, keys: IdentityKeys, chainId: String, genesis: BlockCommit, sealing: IdentityKeys,
                              etcdEndpoints: [String], insecurePlainKeys: Bool) throws {
        let directory = member.directory
        guard insecurePlainKeys || directory.resolvedPassphrase(confirm: true) != nil else { throw directory.passphraseMissing }
        try FileManager.default.createDirectory(at: directory.url, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let lock = try directory.lock()
        defer { lock.release() }
        try directory.saveKey("sealing", sealing, plain: insecurePlainKeys)
        try directory.saveKey("node", IdentityKeys.generate(), plain: insecurePlainKeys)
        try directory.saveKey(member.spec.name, keys, plain: insecurePlainKeys)
        try SQLiteLedgerStore(path: directory.ledgerPath).commit(genesis)
        try directory.write(settings: NodeSettings(
            chainId: chainId, nodeKey: "node", administrator: member.spec.name, blockTransactionsMax: 2_000, blockDelayMs: 10,
            plainKeys: insecurePlainKeys ? true : nil, keyedRecordIDsOnly: true, searchIndexVersion: FHIRIndexer.version,
            consortium: ConsortiumSettings(etcdEndpoints: etcdEndpoints, nodeName: member.spec.name, organization: member.spec.name,
                                           peerURL: member.peerURL, peerPort: member.peerPort, checkpointBlocks: member.checkpointBlocks,
                                           logRetentionBlocks: member.logRetentionBlocks),
            sealingKey: "sealing"))
    }

    /// Makes `configuration` order through etcd, attest with `organizationKeys`, hold the private
    /// payloads of that organization's collections only and fetch missing ones from the peers
    /// registered in etcd; publishes this node's endpoint (`peerURL` and, with a peer listener, its
    /// certificate) there; makes a checkpoint snapshot every `checkpointBlocks` blocks into
    /// `snapshots`. A store holding only the genesis block first joins from the newest snapshot a
    /// quorum of organizations signed (`SnapshotJoin`), unless the settings say not to; `joined`
    /// says how that went (nil: not tried). Returns the node's mutual-TLS identity when the
    /// settings name a peer listener (`peerPort`).
    @discardableResult
    public static func configure(_ configuration: inout NodeConfiguration, _ settings: ConsortiumSettings, chainId: String,
                                 organizationKeys: IdentityKeys, store: SQLiteLedgerStore, snapshots: URL, clock: any LedgerClock) async throws
        -> (tls: PeerTLS?, endorser: Endorser, joined: String?) {
        guard !settings.etcdEndpoints.isEmpty else { throw ServiceError("node.json names no etcd endpoint for the consortium") }
        let client = EtcdClient(endpoints: settings.etcdEndpoints)
        let board = EtcdAttestationBoard(client: client, chainId: chainId, clock: clock)
        configuration.attesting = AttestationSettings(board: board, attesters: [organizationKeys])
        let tls = settings.peerPort == nil ? nil : try PeerTLS(organizationKeys: organizationKeys, chainId: chainId)
        // Another organization's node is trusted by the key this node's own replica holds for it.
        let organizationKey: @Sendable (IdentityID) -> SigningPublicKey? = { id in
            guard let identity = Directory.identity(id, in: StoreStateReader(store: store)), identity.kind == .organization,
                  !identity.revoked else { return nil }
            return identity.signingKey
        }
        // Past etcd's compaction, blocks come from the other organizations' nodes, checked against
        // the attestations with the organization keys this node's own replica holds.
        let directory = PeerDirectory(etcd: client, chainId: chainId, organizationKeys: organizationKeys, clock: clock, tls: tls,
                                      organizationKey: organizationKey)
        let blocks = PeerBlockFetcher(directory: directory, board: board, store: store, organizationKey: organizationKey)
        configuration.organizations = [organizationKeys.derivedID]
        configuration.privateDataSource = PeerPrivateDataSource(directory: directory)
        let archive = try DirectorySnapshotArchive(directory: snapshots)
        let retention = settings.logRetentionBlocks ?? ConsortiumSettings.defaultLogRetentionBlocks
        configuration.logRetentionBlocks = retention > 0 ? retention : nil
        configuration.checkpoints = CheckpointSettings(intervalBlocks: settings.checkpointBlocks ?? CheckpointSettings.defaultIntervalBlocks,
                                                       archive: archive, board: board, signers: [organizationKeys])
        if let url = settings.peerURL {
            // etcd may still be starting: keep trying for a while, in the background.
            Task {
                for _ in 0..<60 {
                    do { try await directory.register(url: url); return } catch { try? await Task.sleep(for: .seconds(1)) }
                }
            }
        }
        var joined: String?
        if settings.joinFromSnapshot != false, try store.head()?.height == 0 {
            do {
                let outcome = try await SnapshotJoin.join(store: store, archive: archive, board: board, source: PeerSnapshotFetcher(directory: directory),
                                                          organization: organizationKeys.derivedID)
                joined = "joined from the checkpoint at height \(outcome.base.height) (snapshot \(outcome.base.digest.hex.prefix(16))…, "
                    + "from organization \(outcome.from.hex.prefix(12))…); replaying the blocks after it"
            } catch {
                joined = "replaying the chain from genesis: \(error)"
            }
        }
        // Every batch a node puts in etcd becomes a block on every node, each with its own costs
        // (execution, fsync, attestations), so while the node's last batch is not committed the
        // next one fills for up to `batchDelayMs` (an idle node's batch goes at once).
        let batchMax = configuration.blockTransactionsMax
        let delay = max(configuration.blockDelayMs, settings.batchDelayMs ?? ConsortiumSettings.defaultBatchDelayMs)
        configuration.makeOrderer = { head, position, clock in
            EtcdOrderer(client: client, configuration: .init(chainId: head.chainId, nodeName: settings.nodeName, batchTransactionsMax: batchMax,
                                                             batchDelayMs: delay),
                        clock: clock, after: position, lastTimeMs: head.timeMs,
                        alreadyOrdered: { ids in (try? store.committedIDs(ids)) ?? [] },
                        peers: blocks, height: head.height, committedHead: { try? store.head() })
        }
        return (tls, Endorser(organizationKeys: organizationKeys, peers: PeerEndorsements(directory: directory)), joined)
    }
}
