import Contracts
import LedgerCore
import Testing


/// Random grant/revoke sequences: after every block each grantee's index list is exactly the set
/// of that grantee's non-revoked consents, the count key is the number of active consents, and
/// replaying every block from genesis reaches the same state.
@Suite("Consent index properties")
struct ConsentIndexPropertyTests {
    static let memberA = Harness.keys(110), memberB = Harness.keys(111), memberC = Harness.keys(112), guardian = Harness.keys(113)
    static let sequences = 200
    static let chunks = 8

    /// Base chain: a few members, a guardian delegate.
    static let base: Harness = {
        var h = Harness.standard()
        h.runAccepted([h.enroll(memberA, by: Harness.hospital, roles: ["nurse"]),
                       h.enroll(memberB, by: Harness.clinic, roles: ["researcher", "clinician"]),
                       h.enroll(memberC, by: Harness.hospital, roles: ["pharmacist"]),
                       h.registerPatient(guardian)])
        h.runAccepted([h.addDelegate(guardian)])
        return h
    }()

    static let grantees: [Grantee] = [
        .member(memberA.derivedID), .member(memberB.derivedID), .member(memberC.derivedID), .member(Harness.doctor.derivedID),
        .organization(Harness.hospital.derivedID), .organization(Harness.clinic.derivedID), .role(.researcher), .role(.nurse),
    ]

    @Test(arguments: 0..<chunks)
    func indexMatchesModel(chunk: Int) throws {
        for sequence in stride(from: chunk, to: Self.sequences, by: Self.chunks) {
            try check(seed: 0xC0_5E_47 &+ UInt64(sequence))
        }
    }

    func check(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        var h = Self.base
        var active: [Grantee: [Hash256]] = [:]
        var granteeOf: [Hash256: Grantee] = [:]
        var revokedAt: [Hash256: UInt64] = [:]
        let purposes = Purpose.allCases.map(\.rawValue)

        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            let blockHeight = h.height
            var txs: [VerifiedTransaction] = []
            var expected: [ResultCode] = []
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                let signer = Bool.random(using: &rng) ? Harness.patient : Self.guardian
                let roll = Int.random(in: 0..<10, using: &rng)
                let live = active.values.flatMap { $0 }.sorted { $0.hex < $1.hex }
                if roll < 4, let id = live.randomElement(using: &rng) {
                    txs.append(h.revokeConsent(id, by: signer))
                    expected.append(.accepted)
                    let grantee = try #require(granteeOf[id])
                    active[grantee]?.removeAll { $0 == id }
                    revokedAt[id] = blockHeight
                } else if roll == 4, let id = revokedAt.keys.sorted(by: { $0.hex < $1.hex }).randomElement(using: &rng) {
                    txs.append(h.revokeConsent(id, by: signer))
                    expected.append(.consentAlreadyRevoked)
                } else {
                    let grantee = Self.grantees.randomElement(using: &rng)!
                    let chosen = purposes.filter { _ in Bool.random(using: &rng) }
                    let tx = h.grantConsent(to: grantee, by: signer, purposes: chosen.isEmpty ? ["TREAT"] : chosen,
                                            actions: Bool.random(using: &rng) ? ["read"] : ["read", "contribute"])
                    txs.append(tx)
                    expected.append(.accepted)
                    active[grantee, default: []].append(tx.id)
                    granteeOf[tx.id] = grantee
                }
            }
            let results = h.run(txs)
            #expect(results.map(\.code) == expected.map(\.rawValue), "seed \(seed): \(results.map(\.message))")

            for grantee in Self.grantees {
                let listed = h.consentIndexList(grantee) ?? []
                let model = active[grantee] ?? []
                #expect(Set(listed) == Set(model), "seed \(seed), \(grantee)")
                #expect(listed.count == Set(listed).count, "seed \(seed), \(grantee): duplicate ids")
                if model.isEmpty { #expect(h.consentIndexList(grantee) == nil, "seed \(seed): empty list must be deleted") }
            }
            let total = active.values.reduce(0) { $0 + $1.count }
            #expect((h.consentCount() ?? 0) == Int64(total), "seed \(seed)")
            for (id, grantee) in granteeOf {
                let entry = try #require(ConsentIndex.consent(id, patient: Harness.patientID, in: h.state), "seed \(seed)")
                #expect(entry.grantee == grantee)
                #expect(entry.revokedHeight == revokedAt[id], "seed \(seed)")
            }
        }

        // Determinism: the same blocks replayed from genesis give the same state and root.
        var replay = Harness()
        for block in h.history {
            #expect(replay.height == block.height)
            _ = replay.run(block.transactions)
        }
        #expect(replay.state.values == h.state.values, "seed \(seed)")
        #expect(replay.stateRoot == h.stateRoot, "seed \(seed)")
    }
}
