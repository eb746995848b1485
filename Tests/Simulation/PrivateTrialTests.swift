import Contracts
import Foundation
import LedgerCore
import Node
import Services
import Storage
import Synchronization
import Testing

/// A sponsor's, a hospital's (the trial's site) and a laboratory's nodes over one simulated log. A
/// patient's participation is private to the sponsor and the site: her consent (sent through the
/// site's node), her enrollment and her data batch are endorsed calls of their collection; every
/// node still counts the data batches, and the laboratory's node learns nothing of her.
@Suite("Private data: a patient's trial participation reaches only the sponsor's and the site's nodes", .timeLimit(.minutes(3)))
struct PrivateTrialTests {
    typealias Network = PrivateDataTests.Network

    @Test func theThirdOrganizationsNodeKnowsNoParticipant() async throws {
        let network = try await Network(founders: [(121, "sponsor", .sponsor), (122, "hospital", .hospital), (123, "laboratory", .laboratory)])
        let (sponsor, hospital) = (network.organizations[0], network.organizations[1])
        let researcher = IdentityKeys(seed: Array(repeating: 124, count: 32))
        _ = try await network.commit(UnsignedCall(hospital, call: MembershipContract.Enroll(
            label: "dr-site", roles: [.clinician], signingKey: researcher.signingPublicKey, agreementKey: researcher.agreementPublicKey)), through: 1)
        let patient = try await network.registerPatient(seed: 125)
        let trial = "CARDIO-7"
        _ = try await network.commit(UnsignedCall(sponsor, call: TrialsContract.Register(
            trial: trial, protocolHash: Hash256.sha256(Array("protocol v1".utf8)), consentFormVersion: 1, primaryEndpoints: ["MACE-12M"],
            secondaryEndpoints: ["LVEF-6M"], sites: [hospital.derivedID])), through: 0)
        let pair: Set = [sponsor.derivedID, hospital.derivedID]
        let crf = Hash256.sha256(Array("case report form 1".utf8))
        let calls = [
            UnsignedCall(patient, endorsedCall: TrialsContract.Consent(trial: trial, patient: patient.derivedID, consentFormVersion: 1), for: pair),
            UnsignedCall(researcher, endorsedCall: TrialsContract.Enroll(trial: trial, patient: patient.derivedID), for: pair),
            UnsignedCall(researcher, endorsedCall: TrialsContract.SubmitData(trial: trial, participant: patient.derivedID, crfHashes: [crf],
                                                                            endpoint: "MACE-12M"), for: pair),
        ]
        var transactions: [Transaction] = []
        for call in calls { transactions.append(try await network.commit(call, through: 1)) }
        for tx in transactions {
            let status = try await network.nodes[2].awaitCommit(tx.id, timeoutMs: 1_000)
            #expect(status.result.isAccepted, "\(status.result.message)")
        }

        // Every node counts the batch; the pair's nodes know the participant and the enrollment.
        for (index, node) in network.nodes.enumerated() {
            let shown = try #require(TrialIndex.trial(trial, in: node.state))
            #expect(shown.dataBatchCount == 1)
            #expect(shown.participantCount == (index == 2 ? 0 : 1), "node \(index)")
            let participant = TrialIndex.participant(trial: trial, patient: patient.derivedID, in: node.state)
            #expect((participant?.status == .enrolled) == (index != 2), "node \(index)")
            #expect((TrialIndex.crf(crf, in: node.state) != nil) == (index != 2), "node \(index)")
        }
        #expect(try network.stores[2].states(prefix: PrivateEnvelope.keyPrefix, after: nil, limit: 10).isEmpty)
        // The shared chain names neither the patient nor the CRF hash in these calls.
        for tx in transactions {
            #expect(!tx.bytes.contains(subsequence: patient.derivedID.bytes) || tx.body.sender == patient.derivedID,
                    "\(tx.body.method) names the patient")
            #expect(!tx.bytes.contains(subsequence: crf.bytes), "\(tx.body.method) names the CRF")
        }
        let laboratoryBytes = try PrivateDataTests.everything(in: network.stores[2], ids: transactions.map(\.id))
        #expect(!laboratoryBytes.contains(subsequence: crf.bytes))
        for store in network.stores {
            if case .failure(let error) = try ChainAudit.run(store: store) { Issue.record("\(error)") }
        }

        // A data batch endorsed by both, but whose shared write counts two batches (or touches the
        // participant count): every node re-derives the head and refuses it.
        let next = UnsignedCall(researcher, endorsedCall: TrialsContract.SubmitData(
            trial: trial, participant: patient.derivedID, crfHashes: [Hash256.sha256(Array("crf 2".utf8))], endpoint: "MACE-12M"), for: pair)
        let honest = try await LedgerClient(node: network.nodes[1], endorser: network.endorsers[1]).sign(endorsing: next)
        let endorsed = try #require(EndorsedCall(args: honest.body.args))
        for (field, value) in [("batches", Int64(3)), ("participants", Int64(5))] {
            var proposal = endorsed.proposal
            let writes = try proposal.writes.map { write -> Proposal.Write in
                guard case .map(var head) = try CanonicalValue(decoding: try #require(write.value)) else { return write }
                head[field] = .int(value)
                return Proposal.Write(key: write.key, value: CanonicalValue.map(head).encoded)
            }
            proposal = Proposal(height: proposal.height, timeMs: proposal.timeMs, reads: proposal.reads, writes: writes,
                                privateKeys: proposal.privateKeys, privateDigest: proposal.privateDigest)
            let tx = try EndorsedCall.forge(honest, sender: researcher, proposal: proposal) { message, _ in
                [sponsor, hospital].map { EndorsedCall.Signature(organization: $0.derivedID, bytes: $0.sign(message)) }
            }
            // The site's node refuses it at admission (its own execution writes otherwise)…
            let refused = await network.nodes[1].submit([tx], payloads: [tx.id: try #require(next.payload).encoded])
            guard case .failure(.rejected(let rejection)) = refused[0] else { Issue.record("\(field): \(refused[0])"); continue }
            #expect(rejection.code == .badEndorsement, "\(field): \(rejection.message)")
            // …and the laboratory's node, which cannot execute it, refuses it by the shared rule alone.
            let atLaboratory = BlockExecutor.standard(chainId: PrivateDataTests.chainId).execute(
                height: network.nodes[2].height + 1, timeMs: endorsed.proposal.timeMs + 1, transactions: [try VerifiedTransaction.verify(tx)],
                state: network.nodes[2].state)
            #expect(atLaboratory.results.first?.code == ResultCode.badEndorsement.rawValue, "\(field): \(atLaboratory.results.map(\.message))")
        }
        await network.stop()
    }
}
