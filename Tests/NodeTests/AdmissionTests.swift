import Contracts
import Foundation
import LedgerCore
import Node
import Storage
import Testing

/// One row per way a transaction is refused before ordering.
struct AdmissionCase: CustomStringConvertible, Sendable {
    let description: String
    let expectedCode: String
    let make: @Sendable (TestChain, IdentityKeys) -> [UInt8]
}

@Suite("Admission refuses bad transactions before ordering and changes nothing")
struct AdmissionTests {
    static let patient = IdentityKeys(seed: Array(repeating: 9, count: 32))
    static let stranger = IdentityKeys(seed: Array(repeating: 10, count: 32))

    static let cases: [AdmissionCase] = [
        AdmissionCase(description: "malformed bytes", expectedCode: "malformed") { _, _ in [0x01, 0x05, 0xff] },
        AdmissionCase(description: "trailing bytes", expectedCode: "malformed") { chain, doctor in chain.anchor(doctor, "t", sequence: 1).bytes + [0] },
        AdmissionCase(description: "oversized", expectedCode: "tooLarge") { _, _ in [UInt8](repeating: 1, count: Limits.transactionBytesMax + 1) },
        AdmissionCase(description: "bad signature", expectedCode: "badSignature") { chain, doctor in
            var bytes = chain.anchor(doctor, "sig", sequence: 1).bytes
            bytes[bytes.count - 1] ^= 0x80
            return bytes
        },
        AdmissionCase(description: "replayed sequence", expectedCode: "sequenceReplayed") { chain, _ in chain.anchor(chain.hospital, "r", sequence: 1).bytes },
        AdmissionCase(description: "sequence gap", expectedCode: "sequenceGap") { chain, doctor in chain.anchor(doctor, "g", sequence: 5).bytes },
        AdmissionCase(description: "expired", expectedCode: "expired") { chain, doctor in
            chain.sign(doctor, AnchorContract.Put(digest: .zero, kind: "x"), sequence: 1, expiry: 0).bytes
        },
        AdmissionCase(description: "wrong chain", expectedCode: "wrongChain") { chain, doctor in
            chain.sign(doctor, AnchorContract.Put(digest: .zero, kind: "x"), sequence: 1, chainId: "other").bytes
        },
        AdmissionCase(description: "unknown contract", expectedCode: "unknownContract") { chain, doctor in chain.sign(doctor, "nope", "put", .map([:]), sequence: 1).bytes },
        AdmissionCase(description: "unknown method", expectedCode: "unknownMethod") { chain, doctor in chain.sign(doctor, AnchorContract.Put.contract, "take", .map([:]), sequence: 1).bytes },
        AdmissionCase(description: "unknown sender", expectedCode: "unknownSender") { chain, _ in chain.anchor(AdmissionTests.stranger, "u", sequence: 1).bytes },
        AdmissionCase(description: "unauthorized: patient anchors", expectedCode: "unauthorized") { chain, _ in chain.anchor(AdmissionTests.patient, "p", sequence: 2).bytes },
        AdmissionCase(description: "unauthorized: member enrolls", expectedCode: "unauthorized") { chain, doctor in
            chain.sign(doctor, MembershipContract.Enroll(label: "x", roles: [], signingKey: AdmissionTests.stranger.signingPublicKey,
                                                         agreementKey: AdmissionTests.stranger.agreementPublicKey), sequence: 1).bytes
        },
        AdmissionCase(description: "bad arguments", expectedCode: "badArguments") { chain, doctor in
            // A digest of 3 bytes: arguments no typed call can hold.
            chain.sign(doctor, AnchorContract.Put.contract, AnchorContract.Put.methodName, .map(["digest": .bytes([1, 2, 3]), "kind": .string("x")]),
                       sequence: 1).bytes
        },
    ]

    @Test(arguments: cases)
    func refusedWithReason(_ row: AdmissionCase) async throws {
        let chain = try await TestChain()
        let doctor = IdentityKeys(seed: Array(repeating: 11, count: 32))
        _ = try await chain.node.submitAndWait(chain.enroll(doctor, by: chain.hospital))
        _ = try await chain.node.submitAndWait(chain.sign(Self.patient, MembershipContract.RegisterPatient(agreementKey: Self.patient.agreementPublicKey)))
        let before = try #require(try chain.store.head())
        var stateBefore: [String: [UInt8]] = [:]
        try chain.store.forEachState { key, value, _ in stateBefore[key] = value }

        let result = await chain.node.submit(bytes: [row.make(chain, doctor)])[0]
        guard case .failure(let error) = result else {
            Issue.record("\(row) was admitted")
            await chain.close()
            return
        }
        #expect(error.code == row.expectedCode, "\(row): got \(error)")
        #expect(!error.description.isEmpty)
        #expect(await chain.node.pendingCount == 0)
        try await Task.sleep(for: .milliseconds(20))
        #expect(try chain.store.head() == before)
        var stateAfter: [String: [UInt8]] = [:]
        try chain.store.forEachState { key, value, _ in stateAfter[key] = value }
        #expect(stateAfter == stateBefore)
        await chain.close()
    }

    @Test func duplicatePendingAndMempoolLimit() async throws {
        let chain = try await TestChain(configuration: .init(blockTransactionsMax: 100, blockDelayMs: 500, mempoolTransactionsMax: 2))
        let a = chain.anchor(chain.hospital, "a"), b = chain.anchor(chain.hospital, "b"), c = chain.anchor(chain.hospital, "c")
        let results = await chain.node.submit([a, a, b, c])
        #expect((try? results[0].get()) == a.id)
        #expect(results[1].failureCode == "duplicate")
        #expect((try? results[2].get()) == b.id)
        #expect(results[3].failureCode == "mempoolFull")
        await chain.close()
    }

    @Test func receiptProvesInclusion() async throws {
        let chain = try await TestChain()
        var ids: [Hash256] = []
        for index in 0..<30 { ids.append(try await chain.node.submit(chain.anchor(chain.hospital, "doc-\(index)"))) }
        for id in ids { _ = try await chain.node.awaitCommit(id, timeoutMs: 60_000) }
        for id in ids {
            let receipt = try await chain.node.receipt(for: id)
            #expect(receipt.status.result.isAccepted)
            try MerkleVerifier.verifyInclusion(leafHash: receipt.leafHash, index: receipt.status.logIndex, size: receipt.treeSize,
                                               proof: receipt.inclusionProof, root: receipt.rootHash)
            let header = try #require(try chain.store.header(height: receipt.treeHeadHeight))
            #expect(header.logRoot == receipt.rootHash)
        }
        await #expect(throws: NodeError.self) { try await chain.node.awaitCommit(Hash256.sha256([1]), timeoutMs: 100) }
        await chain.close()
    }

    /// A submission is admitted in order: a transaction may rely on an earlier one of the same
    /// batch (a patient registered and that patient's record), and one that conflicts with an
    /// earlier one (the same digest anchored twice) is refused at admission, not in its block.
    @Test func batchAdmissionSeesEarlierTransactions() async throws {
        let chain = try await TestChain()
        let patient = IdentityKeys(seed: Array(repeating: 21, count: 32))
        let record = Hash256.sha256([0x21])
        let batch = [
            chain.sign(patient, MembershipContract.RegisterPatient(agreementKey: patient.agreementPublicKey)),
            chain.sign(chain.hospital, RecordsContract.Register(record: record, patient: patient.derivedID, resourceType: "Observation",
                                                                category: .general, ciphertextHash: Hash256.sha256([0x22]), version: 1)),
            chain.anchor(chain.hospital, "twice"),
        ]
        let results = await chain.node.submit(batch)
        #expect(results.allSatisfy { (try? $0.get()) != nil }, "\(results)")
        for tx in batch { #expect(try await chain.node.awaitCommit(tx.id).result.isAccepted) }
        #expect(RecordIndex.current(record, in: chain.node.state)?.patient == patient.derivedID)

        let conflicting = [chain.anchor(chain.hospital, "once"), chain.anchor(chain.hospital, "once")]
        let second = await chain.node.submit(conflicting)
        #expect((try? second[0].get()) != nil)
        #expect(second[1].failureCode == "alreadyAnchored")
        await chain.close()
    }

    @Test func restartKeepsChainAndContinues() async throws {
        let chain = try await TestChain()
        for index in 0..<10 { _ = try await chain.node.submitAndWait(chain.anchor(chain.hospital, "before-\(index)")) }
        let head = await chain.node.headHeader
        try await chain.restart()
        #expect(await chain.node.headHeader == head)
        let receipt = try await chain.node.submitAndWait(chain.anchor(chain.hospital, "after"))
        #expect(receipt.status.result.isAccepted)
        #expect(receipt.status.height > head.height)
        guard case .success(let report) = try ChainAudit.run(store: chain.store) else {
            Issue.record("chain does not verify after restart")
            return
        }
        #expect(report.transactions == head.logSize + 1)
        await chain.close()
    }
}

extension Result where Failure == AdmissionError {
    var failureCode: String? { if case .failure(let e) = self { e.code } else { nil } }
}
