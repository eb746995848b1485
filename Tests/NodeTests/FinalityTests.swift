import Contracts
import Foundation
import LedgerCore
@testable import Node
import Ordering
import Services
import Storage
import Testing

@Suite("Finality: a quorum of organizations attests each block")
struct FinalityTrackerTests {
    static let a = Hash256.sha256([1]), b = Hash256.sha256([2]), c = Hash256.sha256([3])
    static let mine = Attestation.Values(blockHash: a, stateRoot: a, logRoot: a)
    static let other = Attestation.Values(blockHash: b, stateRoot: b, logRoot: a)
    static let orgs = (0..<4).map { IdentityKeys(seed: Array(repeating: UInt8(90 + $0), count: 32)) }

    static func vote(_ org: Int, _ height: UInt64, _ values: Attestation.Values) -> Attestation {
        Attestation(chainId: "t", height: height, values: values, attester: orgs[org].derivedID, signature: [])
    }

    /// (quorum, attestations as (org, agrees), expected final height, diverged, disagreements reported)
    static let cases: [(Int, [(Int, Bool)], UInt64, Bool, Int)] = [
        (1, [], 0, false, 0),                              // own values alone are not an attestation
        (1, [(0, true)], 5, false, 0),
        (2, [(0, true)], 0, false, 0),
        (2, [(0, true), (1, true)], 5, false, 0),
        (2, [(0, true), (0, true)], 0, false, 0),          // one organization counts once
        (2, [(0, true), (1, false)], 0, false, 1),         // a minority that disagrees is reported, nothing halts
        (2, [(1, false), (2, false)], 0, true, 1),         // a quorum that contradicts this node: diverged (the first alone was reported)
        (3, [(0, true), (1, true), (2, false)], 0, false, 1),
        (3, [(0, true), (1, true), (2, false), (3, true)], 5, false, 1),
    ]

    @Test("the table of quorums", arguments: 0..<cases.count)
    func quorum(_ index: Int) {
        let (quorum, votes, expectedFinal, expectDiverged, expectDisagreements) = Self.cases[index]
        var tracker = FinalityTracker(quorum: quorum, finalHeight: 0)
        var outcomes = tracker.committed(height: 5, values: Self.mine)
        for (org, agrees) in votes { outcomes += tracker.add(Self.vote(org, 5, agrees ? Self.mine : Self.other), head: 5) }
        #expect(tracker.finalHeight == expectedFinal)
        #expect(outcomes.contains { if case .diverged = $0 { true } else { false } } == expectDiverged)
        #expect(outcomes.filter { if case .disagreement = $0 { true } else { false } }.count == expectDisagreements)
    }

    @Test func attestationsBeforeTheBlockCountOnceItIsCommitted() {
        var tracker = FinalityTracker(quorum: 2, finalHeight: 0)
        #expect(tracker.add(Self.vote(1, 3, Self.mine), head: 1).isEmpty)
        #expect(tracker.add(Self.vote(2, 3, Self.mine), head: 1).isEmpty)
        #expect(tracker.committed(height: 3, values: Self.mine) == [.final(3)])
        // A later final height moves it on; an earlier one never moves it back.
        _ = tracker.committed(height: 2, values: Self.mine)
        _ = tracker.add(Self.vote(1, 2, Self.mine), head: 3)
        _ = tracker.add(Self.vote(2, 2, Self.mine), head: 3)
        #expect(tracker.finalHeight == 3)
    }

    @Test func attestationsFarAheadOfTheHeadAreNotKept() {
        var tracker = FinalityTracker(quorum: 1, finalHeight: 0)
        _ = tracker.add(Self.vote(1, FinalityTracker.aheadMax + 10, Self.mine), head: 1)
        #expect(tracker.committed(height: FinalityTracker.aheadMax + 10, values: Self.mine).isEmpty)
    }

    @Test func anAttestationRoundTripsAndItsSignatureBindsEveryField() throws {
        let header = BlockHeader(chainId: "t", height: 9, previousHash: Self.a, timeMs: 1, transactionCount: 0, transactionsRoot: Self.a,
                                 logSize: 3, logRoot: Self.b, resultsRoot: Self.a, stateRoot: Self.c, ordererKey: Self.orgs[3].signingPublicKey)
        let signed = Attestation.sign(header, attester: Self.orgs[0])
        let decoded = try Attestation(decoding: signed.encoded)
        #expect(decoded == signed)
        #expect(decoded.isSigned(by: Self.orgs[0].signingPublicKey))
        #expect(!decoded.isSigned(by: Self.orgs[1].signingPublicKey))
        let moved = Attestation(chainId: "t", height: 10, values: signed.values, attester: signed.attester, signature: signed.signature)
        #expect(!moved.isSigned(by: Self.orgs[0].signingPublicKey), "the height is signed")
        let otherRoot = Attestation(chainId: "t", height: 9, values: Self.other, attester: signed.attester, signature: signed.signature)
        #expect(!otherRoot.isSigned(by: Self.orgs[0].signingPublicKey), "the roots are signed")
        #expect(throws: CanonicalError.self) { try Attestation(decoding: Array(signed.encoded.dropLast())) }
        #expect(throws: CanonicalError.self) { try Attestation(decoding: Array(repeating: 0, count: Attestation.encodedBytesMax + 1)) }
    }
}

/// A node of a two-founder chain (quorum 2) attesting over an in-process board; the tests play
/// the other organization by publishing its attestations.
@Suite("Finality on a node", .serialized)
struct NodeFinalityTests {
    static func chain(attestingFor attesters: (TestChain) -> [IdentityKeys], board: LocalAttestationBoard) async throws -> TestChain {
        let plain = try await TestChain()
        let keys = attesters(plain)
        try await plain.reopen(configuration: NodeConfiguration(blockTransactionsMax: 100, blockDelayMs: 2,
                                                                 attesting: AttestationSettings(board: board, attesters: keys)))
        return plain
    }

    static func waitUntil(_ condition: () async -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        while !(await condition()) {
            guard ContinuousClock.now < deadline else { return }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func aBlockIsFinalOnceAQuorumAttestedItsValues() async throws {
        let board = LocalAttestationBoard()
        let chain = try await Self.chain(attestingFor: { [$0.hospital] }, board: board)
        let tx = chain.anchor(chain.hospital, "one")
        _ = try await chain.node.submit(tx)
        let status = try await chain.node.awaitCommit(tx.id)
        #expect(chain.node.finalHeight < status.height, "the hospital alone is not a quorum of two")
        await #expect(throws: NodeError.self) { _ = try await chain.node.awaitFinal(tx.id, timeoutMs: 100) }

        // A forged clinic attestation (signed by another key) is refused and changes nothing.
        let header = try #require(try chain.store.header(height: status.height))
        let forger = IdentityKeys(seed: Array(repeating: 77, count: 32))
        let genuine = Attestation.sign(header, attester: chain.clinic)
        let unsigned = Attestation(chainId: header.chainId, height: header.height, values: Attestation.Values(header),
                                   attester: chain.clinic.derivedID, signature: [])
        let forged = Attestation(chainId: unsigned.chainId, height: unsigned.height, values: unsigned.values, attester: unsigned.attester,
                                 signature: forger.sign(unsigned.signedMessage))
        try await board.publish([forged])
        try await Self.waitUntil { await chain.node.finalityStatus.refusedAttestations == 1 }
        #expect(await chain.node.finalityStatus.refusedAttestations == 1)
        #expect(chain.node.finalHeight < status.height)

        // The clinic's genuine attestation makes it final.
        try await board.publish([genuine])
        let final = try await chain.node.awaitFinal(tx.id, timeoutMs: 60_000)
        #expect(final == status)
        #expect(chain.node.finalHeight >= status.height)
        #expect(Set(try chain.store.attestations(height: status.height).map(\.attester)) == [chain.hospital.derivedID, chain.clinic.derivedID])
        #expect(try chain.store.finalHeight() == status.height)
        // The network page's view: both organizations attested this node's values at that height.
        let network = try await NetworkStatus.of(chain.node)
        #expect(network.consortium && network.quorum == 2 && network.finalHeight == status.height && network.failure == nil)
        #expect(Set(network.attesters.map(\.id)) == [chain.hospital.derivedID, chain.clinic.derivedID])
        #expect(network.attesters.allSatisfy { $0.height == status.height && $0.agrees })

        // The final height survives a restart.
        try await chain.restart()
        #expect(chain.node.finalHeight == status.height)
        await chain.close()
    }

    @Test(.timeLimit(.minutes(3)))
    func aNodeTheQuorumContradictsHaltsItsWritesAndSaysWhy() async throws {
        let board = LocalAttestationBoard()
        // An observer: it attests for no organization, the hospital and the clinic attest through the board.
        let chain = try await Self.chain(attestingFor: { _ in [] }, board: board)
        let tx = chain.anchor(chain.hospital, "one")
        _ = try await chain.node.submit(tx)
        let status = try await chain.node.awaitCommit(tx.id)
        let header = try #require(try chain.store.header(height: status.height))
        var other = header
        other.stateRoot = Hash256.sha256(Array("another state".utf8))

        // One organization short of a quorum disagreeing is reported, and nothing halts.
        try await board.publish([Attestation.sign(other, attester: chain.clinic)])
        try await Self.waitUntil { await !chain.node.finalityStatus.disagreements.isEmpty }
        let disagreement = try #require(await chain.node.finalityStatus.disagreements.first)
        #expect(disagreement.ours.stateRoot == header.stateRoot && disagreement.theirs.stateRoot == other.stateRoot)
        #expect(await chain.node.failureError == nil)

        // The quorum (both) contradicting it: the node halts its writes and reports both values.
        try await board.publish([Attestation.sign(other, attester: chain.hospital)])
        try await Self.waitUntil { await chain.node.finalityStatus.divergence != nil }
        let divergence = try #require(await chain.node.finalityStatus.divergence)
        #expect(divergence.height == status.height && divergence.theirs.stateRoot == other.stateRoot && divergence.ours.stateRoot == header.stateRoot)
        let failure = try #require(await chain.node.failureError)
        #expect("\(failure)".contains(header.stateRoot.hex) && "\(failure)".contains(other.stateRoot.hex), "\(failure)")
        // The network page's view: halted, diverged, and both organizations disagreeing with this node.
        let network = try await NetworkStatus.of(chain.node)
        #expect(network.failure != nil && network.divergence?.contains(other.stateRoot.hex) == true)
        #expect(network.attesters.count == 2 && network.attesters.allSatisfy { !$0.agrees && $0.height == status.height })
        let refused = await chain.node.submit([chain.anchor(chain.hospital, "two")])
        #expect(throws: AdmissionError.self) { try refused[0].get() }
        #expect(chain.node.finalHeight < status.height)
        // `careledger verify`'s audit explains it from the stored attestations.
        let audit = try #require(try ChainAudit.attestations(store: chain.store))
        #expect(audit.checked == 2 && audit.badSignatures == 0 && audit.quorum == 2)
        let explained = try #require(audit.divergences.first)
        #expect(explained.height == status.height && explained.ours.stateRoot == header.stateRoot && explained.theirs.stateRoot == other.stateRoot)
        await chain.close()
    }

    /// Attestations are saved off the node's actor; what rests on them waits for the save: a final
    /// height (its waiters, `finalHeight`) and a divergence (the halt and its reason), so
    /// `careledger verify` and the attested tree head find the attestations behind them stored.
    @Test(.timeLimit(.minutes(3)))
    func finalityAndADivergenceCountOnlyOnceTheirAttestationsAreStored() async throws {
        let chain = try await TestChain()
        await chain.node.stop()
        let store = FailingStore(chain.store, commitsAllowed: .max, attestationLingerMs: 300)
        let board = LocalAttestationBoard()
        let node = try await LedgerNode(store: store, ordererKeys: chain.nodeKeys, configuration: NodeConfiguration(
            blockTransactionsMax: 100, blockDelayMs: 2, attesting: AttestationSettings(board: board, attesters: [])))
        let first = chain.anchor(chain.hospital, "one")
        _ = try await node.submit(first)
        let status = try await node.awaitCommit(first.id)
        let header = try #require(try store.header(height: status.height))
        try await board.publish([Attestation.sign(header, attester: chain.hospital), Attestation.sign(header, attester: chain.clinic)])
        _ = try await node.awaitFinal(first.id, timeoutMs: 60_000)
        #expect(try store.attestations(height: status.height).count == 2 && store.finalHeight() == status.height)

        // Both organizations attest other values for the next block: the node halts once it stored that.
        let second = chain.anchor(chain.hospital, "two")
        _ = try await node.submit(second)
        let next = try #require(try store.header(height: try await node.awaitCommit(second.id).height))
        var other = next
        other.stateRoot = Hash256.sha256(Array("another state".utf8))
        try await board.publish([Attestation.sign(other, attester: chain.hospital), Attestation.sign(other, attester: chain.clinic)])
        try await Self.waitUntil { await node.finalityStatus.divergence != nil }
        #expect(await node.failureError != nil)
        #expect(try store.attestations(height: next.height).count == 2, "the evidence is stored before the node says it halted")
        let audit = try #require(try ChainAudit.attestations(store: store))
        #expect(audit.divergences.first?.height == next.height)
        await node.stop()
        await chain.close()
    }

    @Test(.timeLimit(.minutes(3)))
    func aSingleNodeIsFinalOnceCommitted() async throws {
        let chain = try await TestChain()
        let tx = chain.anchor(chain.hospital, "one")
        _ = try await chain.node.submit(tx)
        let status = try await chain.node.awaitFinal(tx.id)
        #expect(chain.node.finalHeight == status.height)
        #expect(await chain.node.finalityStatus.quorum == 1)
        await chain.close()
    }
}
