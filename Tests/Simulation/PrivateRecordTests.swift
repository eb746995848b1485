import Contracts
import Foundation
import LedgerCore
import Node
import Services
import Storage
import Testing

/// A hospital's, a payer's and a laboratory's nodes over one simulated log. The hospital registers
/// a mental-health record privately: its category goes to the hospital's collection only, while
/// every node holds the entry (id, patient pseudonym, type, custodian, ciphertext hash, version).
@Suite("Private data: a record's sensitivity category stays on its custodian's node", .timeLimit(.minutes(3)))
struct PrivateRecordTests {
    typealias Network = PrivateDataTests.Network

    @Test func onlyTheCustodiansNodeKnowsTheCategoryAndElsewhereNoConsentCoversItImplicitly() async throws {
        let network = try await Network()
        let (hospital, laboratory) = (network.hospital, network.laboratory)
        let patient = try await network.registerPatient(seed: 120)
        let record = Hash256.sha256(Array("psychiatric-note".utf8))
        let register = RecordsContract.Register(record: record, patient: patient.derivedID, resourceType: "Observation", category: .mentalHealth,
                                                ciphertextHash: Hash256.sha256(Array("ciphertext".utf8)), version: 1)
        let tx = try await network.commit(UnsignedCall(hospital, endorsedCall: register, for: [hospital.derivedID]), through: 0)

        // Every node holds the entry; only the hospital's knows the category.
        let atHospital = try #require(RecordIndex.current(record, in: network.nodes[0].state))
        #expect(atHospital.category == .mentalHealth && atHospital.labelsHere && !atHospital.labelsWithheld)
        for index in [1, 2] {
            let entry = try #require(RecordIndex.current(record, in: network.nodes[index].state))
            #expect(entry.labelsWithheld && entry.custodian == hospital.derivedID && entry.patient == patient.derivedID)
            #expect(entry.sensitiveLabels == Set(SensitivityCategory.allCases.filter(\.isSensitive)))
            #expect(try network.stores[index].states(prefix: PrivateEnvelope.keyPrefix, after: nil, limit: 10).isEmpty)
        }
        let category = Array(SensitivityCategory.mentalHealth.rawValue.utf8)
        #expect(!(try PrivateDataTests.everything(in: network.stores[2], ids: [tx.id])).contains(subsequence: category))
        #expect(try PrivateDataTests.everything(in: network.stores[0], ids: [tx.id]).contains(subsequence: category))

        // A consent to the laboratory that names no category: the hospital's node (which decides
        // reads of its records) refuses it as sensitive; on the other nodes the record counts as
        // carrying every sensitive label, so no node decides it is covered.
        _ = try await network.commit(UnsignedCall(patient, call: ConsentContract.Grant(
            patient: patient.derivedID, grantee: .organization(laboratory.derivedID), purposes: [.treatment], actions: [.read])), through: 2)
        let request = AccessRequest(requester: laboratory.derivedID, record: record, purpose: .treatment, action: .read)
        for node in network.nodes {
            let decision = ConsentPolicy.decide(request, in: node.state, nowMs: network.clock.nowMs() + 1_000, height: node.height + 1)
            #expect(!decision.isPermitted, "\(decision)")
        }
        // Named by category, it is covered at the custodian's node only, the one that decides.
        _ = try await network.commit(UnsignedCall(patient, call: ConsentContract.Grant(
            patient: patient.derivedID, grantee: .organization(laboratory.derivedID), categories: [.mentalHealth], purposes: [.treatment],
            actions: [.read])), through: 2)
        network.clock.advance(ms: 1_000)  // past the consent's start (its block's time)
        let decisions = network.nodes.map { ConsentPolicy.decide(request, in: $0.state, nowMs: network.clock.nowMs(), height: $0.height + 1) }
        #expect(decisions.map(\.isPermitted) == [true, false, false], "\(decisions)")

        // A new version sent in the clear is refused on every node; privately it is accepted and the label carries.
        let clear = RecordsContract.Register(record: record, patient: patient.derivedID, resourceType: "Observation", category: .general,
                                             ciphertextHash: Hash256.sha256(Array("v2".utf8)), version: 2)
        await #expect(throws: AdmissionError.self) { _ = try await network.commit(UnsignedCall(hospital, call: clear), through: 0) }
        _ = try await network.commit(UnsignedCall(hospital, endorsedCall: clear, for: [hospital.derivedID]), through: 0)
        let second = try #require(RecordIndex.current(record, in: network.nodes[0].state))
        #expect(second.version == 2 && second.category == .general && second.sensitiveLabels == [.mentalHealth])
        #expect(try #require(RecordIndex.current(record, in: network.nodes[1].state)).labelsWithheld)
        for store in network.stores {
            if case .failure(let error) = try ChainAudit.run(store: store) { Issue.record("\(error)") }
        }
        await network.stop()
    }
}
