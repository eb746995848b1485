import Contracts
import Foundation
import LedgerCore
import Node
import Storage

/// A temporary store with a genesis block and a running node; removes its files on `close`.
final class TestChain {
    static let chainId = "test-chain"
    let directory: URL
    let nodeKeys = IdentityKeys(seed: Array(repeating: 1, count: 32))
    let hospital = IdentityKeys(seed: Array(repeating: 2, count: 32))
    let clinic = IdentityKeys(seed: Array(repeating: 3, count: 32))
    private(set) var store: SQLiteLedgerStore
    private(set) var node: LedgerNode
    private var sequences: [IdentityID: UInt64] = [:]

    var path: String { directory.appendingPathComponent("ledger.sqlite").path }

    init(configuration: NodeConfiguration = .init(blockTransactionsMax: 100, blockDelayMs: 2)) async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("careledger-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        store = try SQLiteLedgerStore(path: directory.appendingPathComponent("ledger.sqlite").path)
        try Genesis.create(in: store, chainId: Self.chainId,
                           founders: [Founder(keys: hospital, label: "hospital", type: .hospital), Founder(keys: clinic, label: "clinic", type: .clinic)],
                           ordererKeys: nodeKeys, timeMs: 1_700_000_000_000)
        node = try await LedgerNode(store: store, ordererKeys: nodeKeys, configuration: configuration)
        sequences = [hospital.derivedID: 1, clinic.derivedID: 1]
    }

    /// Stops the node and opens a fresh store and node over the same file (a clean restart).
    func restart() async throws {
        await node.stop()
        store = try SQLiteLedgerStore(path: path)
        node = try await LedgerNode(store: store, ordererKeys: nodeKeys, configuration: node.configuration)
    }

    /// Stops the node and opens the same store again with another configuration.
    func reopen(configuration: NodeConfiguration) async throws {
        await node.stop()
        store = try SQLiteLedgerStore(path: path)
        node = try await LedgerNode(store: store, ordererKeys: nodeKeys, configuration: configuration)
    }

    func close() async {
        await node.stop()
        try? FileManager.default.removeItem(at: directory)
    }

    /// Signs a typed call with the sender's next sequence (tracked locally), or an explicit one.
    func sign(_ keys: IdentityKeys, _ call: some ContractMethod, sequence: UInt64? = nil, sender: IdentityID? = nil,
              chainId: String = TestChain.chainId, expiry: UInt64? = nil) -> Transaction {
        sign(keys, type(of: call).contract, type(of: call).methodName, call.args, sequence: sequence, sender: sender, chainId: chainId, expiry: expiry)
    }

    /// Signs a raw call (for calls no typed method describes: unknown contracts and methods, malformed arguments).
    func sign(_ keys: IdentityKeys, _ contract: String, _ method: String, _ args: CanonicalValue,
              sequence: UInt64? = nil, sender: IdentityID? = nil, chainId: String = TestChain.chainId, expiry: UInt64? = nil) -> Transaction {
        let sender = sender ?? keys.derivedID
        let seq = sequence ?? (sequences[sender] ?? 0) + 1
        if sequence == nil { sequences[sender] = seq }
        return Transaction.sign(TransactionBody(chainId: chainId, sender: sender, publicKey: keys.signingPublicKey, sequence: seq,
                                                contract: contract, method: method, args: args, expiryHeight: expiry), with: keys)
    }

    func anchor(_ keys: IdentityKeys, _ label: String, sequence: UInt64? = nil) -> Transaction {
        sign(keys, AnchorContract.Put(digest: Hash256.sha256(Array(label.utf8)), kind: "test"), sequence: sequence)
    }

    func enroll(_ member: IdentityKeys, by org: IdentityKeys, roles: [Role] = [.clinician]) -> Transaction {
        sign(org, MembershipContract.Enroll(label: "m", roles: roles, signingKey: member.signingPublicKey, agreementKey: member.agreementPublicKey))
    }

    /// Forgets a sender's locally tracked sequence after a refused submission.
    func rewind(_ keys: IdentityKeys) { sequences[keys.derivedID] = sequences[keys.derivedID].map { $0 - 1 } }
}
