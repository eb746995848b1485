import Contracts
import Foundation
import LedgerCore
import Node
import Services
import Storage
import Synchronization
import Testing

/// Three organizations' nodes over one simulated ordered log: a clinic, a hospital and a
/// laboratory. A telehealth session between the clinic's clinician and a patient is private to the
/// clinic (endorsed calls whose collection is the clinic alone): the patient joins through the
/// clinic's node, and the other nodes order and attest its blocks knowing nothing of it.
@Suite("Private data: a telehealth session stays on the clinician's organization's node", .timeLimit(.minutes(3)))
struct PrivateTelehealthTests {
    typealias Network = PrivateDataTests.Network

    @Test func onlyTheCliniciansOrganizationsNodeHoldsTheSession() async throws {
        let network = try await Network(founders: [(111, "clinic", .clinic), (112, "hospital", .hospital), (113, "laboratory", .laboratory)])
        let clinic = network.organizations[0]
        let clinician = IdentityKeys(seed: Array(repeating: 114, count: 32))
        _ = try await network.commit(UnsignedCall(clinic, call: MembershipContract.Enroll(
            label: "dr-chen", roles: [.clinician], signingKey: clinician.signingPublicKey, agreementKey: clinician.agreementPublicKey)), through: 0)
        let patient = try await network.registerPatient(seed: 115)
        let session = Hash256.sha256(Array("session-1".utf8)), commitment = Hash256.sha256(Array("wrapped copies".utf8))
        let transcript = Hash256.sha256(Array("the transcript".utf8))
        let collection: Set = [clinic.derivedID]
        let open = UnsignedCall(clinician, endorsedCall: TelehealthContract.Open(session: session, patient: patient.derivedID, consentToRecord: true,
                                                                                 keyCommitment: commitment, startMs: network.clock.nowMs()),
                                for: collection)
        let calls = [
            open,
            // The patient, who belongs to no organization, joins through the clinic's node.
            UnsignedCall(patient, endorsedCall: TelehealthContract.Join(session: session), for: collection),
            UnsignedCall(clinician, endorsedCall: TelehealthContract.End(session: session, transcriptHash: transcript, messageCount: 12,
                                                                         endMs: network.clock.nowMs() + 60_000), for: collection),
        ]
        var transactions: [Transaction] = []
        for call in calls { transactions.append(try await network.commit(call, through: 0)) }
        for tx in transactions {
            let status = try await network.nodes[2].awaitCommit(tx.id, timeoutMs: 1_000)
            #expect(status.result.isAccepted, "\(status.result.message)")
        }
        // A single organization's collection: nobody else was asked to endorse.
        #expect(network.links[0].endorsementsAsked.withLock { $0 } == 0)

        // One chain; the clinic's node shows the session ended with its transcript hash; the others know nothing of it.
        let heads = try network.stores.map { try #require(try $0.head()) }
        #expect(Set(heads.map(\.hash)).count == 1)
        let atClinic = try #require(TelehealthContract.session(session, in: network.nodes[0].state))
        #expect(atClinic.status == .ended && atClinic.transcriptHash == transcript && atClinic.joinedBy == patient.derivedID)
        for index in [1, 2] {
            #expect(TelehealthContract.session(session, in: network.nodes[index].state) == nil)
            #expect(try network.stores[index].states(prefix: PrivateEnvelope.keyPrefix, after: nil, limit: 10).isEmpty)
        }
        // Neither the session's transactions nor the laboratory's store name the patient's session,
        // its key commitment or transcript hash; the open does not name the patient.
        let laboratoryBytes = try PrivateDataTests.everything(in: network.stores[2], ids: transactions.map(\.id))
        for (what, secret) in [("session id", session.bytes), ("key commitment", commitment.bytes), ("transcript hash", transcript.bytes)] {
            #expect(!laboratoryBytes.contains(subsequence: secret), "the laboratory's node holds the \(what)")
        }
        #expect(!transactions[0].bytes.contains(subsequence: patient.derivedID.bytes), "the open names the patient")
        for store in network.stores {
            if case .failure(let error) = try ChainAudit.run(store: store) { Issue.record("\(error)") }
        }
        await network.stop()
    }
}
