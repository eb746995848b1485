import Contracts
import Foundation
import LedgerCore
import Node
import Services
import Storage
import Testing
import Vault

/// A node's own writers sharing one key: `careledger node` anchors its audit log with the
/// administrator's key while its FHIR server writes with the custodian's, often the same
/// organization key. Each writer must take its sequence number in order with the others, or the
/// node refuses one of them (`sequenceGap` / `sequenceReplayed`): a 422 on a FHIR write that had
/// nothing wrong with it. Found as a flaky `FHIRIntegrationTests.standardClientLibrary`.
@Suite("One client's writers of one key take sequence numbers in order", .timeLimit(.minutes(5)))
struct ConcurrentSignerTests {
    @Test func auditAnchorsAndOtherWritesOfTheSameKeyAreAllAccepted() async throws {
        let hospital = IdentityKeys(seed: Array(repeating: 131, count: 32))
        let sealing = IdentityKeys(seed: Array(repeating: 132, count: 32))
        let (_, genesis) = try Genesis.make(chainId: "signers", founders: [Founder(keys: hospital, label: "hospital", type: .hospital)],
                                            ordererKeys: sealing, timeMs: SystemClock().nowMs() - 1_000)
        let store = InMemoryLedgerStore()
        try store.commit(genesis)
        let node = try await LedgerNode(store: store, ordererKeys: sealing, configuration: NodeConfiguration(blockDelayMs: 1), clock: SystemClock())
        let access = AccessService(node: node, vault: InMemoryVaultStore(), custodians: [hospital],
                                   indexKey: try BlindIndexKey(secret: Array(repeating: 133, count: 32)), clock: SystemClock())
        let client = LedgerClient(node: node)
        // Sized to stay quick under a loaded machine's slower commits (each anchor waits for its block).
        let (anchors, writes) = (30, 90)
        try await withThrowingTaskGroup(of: Void.self) { group in
            // The node's anchoring loop: a read logged, then its tree head anchored, one after another.
            group.addTask {
                for round in 0..<anchors {
                    try await access.logObjectReads([ObjectRead(requester: hospital.derivedID, patient: hospital.derivedID,
                                                                object: Hash256.sha256([UInt8(round)]), purpose: .treatment, permitted: true)])
                    try await client.anchorAudit(of: access, anchorer: hospital)
                }
            }
            // Its other writers, at the same time, with the same key.
            for round in 0..<writes {
                group.addTask {
                    try await client.commit([UnsignedCall(hospital, call: AnchorContract.Put(digest: Hash256.sha256([UInt8(round), 1]), kind: "document"))])
                }
            }
            try await group.waitForAll()
        }
        #expect(BlockExecutor.lastSequence(of: hospital.derivedID, in: node.state) == UInt64(anchors + writes + 1))
        await node.stop()
    }
}
