import Contracts
import Foundation
import LedgerCore
import Node
import Services
import Storage
import Synchronization
import Testing

/// Four organizations' nodes over one simulated ordered log: a hospital (the prescriber's), a
/// pharmacy, a laboratory and a manufacturer. A prescription is an endorsed private call between
/// the hospital and the pharmacy it names: both nodes simulate it and sign the outcome before it
/// is ordered. Its fill marks a supply unit dispensed in shared state on every node; the
/// prescription itself reaches only the pair's nodes.
@Suite("Private data: a prescription reaches only the prescriber's and the pharmacy's nodes", .timeLimit(.minutes(3)))
struct PrivatePrescriptionTests {
    typealias Network = PrivateDataTests.Network
    static let gtin = "00312345678906"
    static let dayMs: Int64 = 86_400_000

    static func network() async throws -> Network {
        try await Network(founders: [(101, "hospital", .hospital), (102, "pharmacy", .pharmacy), (103, "laboratory", .laboratory),
                                     (104, "manufacturer", .manufacturer)])
    }

    /// A doctor at the hospital, a patient, and units S001, S002 … received by the pharmacy.
    static func prepare(_ network: Network, units count: Int = 2) async throws -> (doctor: IdentityKeys, patient: IdentityKeys) {
        let (hospital, pharmacy, manufacturer) = (network.organizations[0], network.organizations[1], network.organizations[3])
        let doctor = IdentityKeys(seed: Array(repeating: 105, count: 32))
        _ = try await network.commit(UnsignedCall(hospital, call: MembershipContract.Enroll(
            label: "dr-rivera", roles: [.clinician], signingKey: doctor.signingPublicKey, agreementKey: doctor.agreementPublicKey)), through: 0)
        let patient = try await network.registerPatient(seed: 106)
        let units = Self.serials(count).map { SGTIN(gtin: gtin, serial: $0) }
        _ = try await network.commit(UnsignedCall(manufacturer, call: SupplyChainContract.RegisterProduct(gtin: gtin, label: "Amoxicillin 500 mg")),
                                     through: 3)
        _ = try await network.commit(UnsignedCall(manufacturer, call: SupplyChainContract.Commission(
            gtin: gtin, lot: "L1", expiryMs: network.clock.nowMs() + 365 * dayMs, serials: units.map(\.serial))), through: 3)
        _ = try await network.commit(UnsignedCall(manufacturer, call: SupplyChainContract.Ship(to: pharmacy.derivedID, units: units)), through: 3)
        _ = try await network.commit(UnsignedCall(pharmacy, call: SupplyChainContract.Receive(from: manufacturer.derivedID, units: units)),
                                     through: 1)
        return (doctor, patient)
    }

    @Test func aThirdOrganizationsNodeStoresNoneOfAPrescriptionAndEveryNodeSeesTheUnitDispensed() async throws {
        let network = try await Self.network()
        let (hospital, pharmacy) = (network.organizations[0], network.organizations[1])
        let (doctor, patient) = try await Self.prepare(network)
        let request = Hash256.sha256(Array("MedicationRequest/amoxicillin-500/rivera".utf8))
        let issue = PrescriptionContract.Issue(medicationRequestHash: request, patient: patient.derivedID, gtin: Self.gtin, quantity: 1, refills: 1,
                                               expiresMs: network.clock.nowMs() + 30 * Self.dayMs, pharmacies: [pharmacy.derivedID])
        let pair: Set = [hospital.derivedID, pharmacy.derivedID]
        // The doctor issues it through the hospital's node; the pharmacy's node endorses it too.
        let issueCall = UnsignedCall(doctor, endorsedCall: issue, for: pair)
        let issueTx = try await network.commit(issueCall, through: 0)
        let envelope = try #require(EndorsedCall(args: issueTx.body.args)?.envelope)
        let id = EndorsedCall.callID(chainId: PrivateDataTests.chainId, sender: doctor.derivedID, sequence: issueTx.body.sequence, envelope: envelope)
        #expect(network.links[0].endorsementsAsked.withLock { $0 } == 1)
        // The pharmacy fills it through its own node; the hospital's node endorses the fill.
        let fillCall = UnsignedCall(pharmacy, endorsedCall: PrescriptionContract.Fill(prescription: id, units: [SGTIN(gtin: Self.gtin, serial: "S001")]),
                                    for: pair)
        let fillTx = try await network.commit(fillCall, through: 1)
        #expect(network.links[1].endorsementsAsked.withLock { $0 } == 1)

        // One chain on all four nodes, each call accepted.
        let heads = try network.stores.map { try #require(try $0.head()) }
        #expect(Set(heads.map(\.hash)).count == 1)
        for tx in [issueTx, fillTx] {
            let status = try await network.nodes[2].awaitCommit(tx.id, timeoutMs: 1_000)
            #expect(status.result.isAccepted, "\(status.result.message)")
        }
        // The pair holds the prescription, filled once; the laboratory's and the manufacturer's nodes know nothing of it.
        for index in [0, 1] {
            let view = try #require(PrescriptionContract.prescription(id, in: network.nodes[index].state))
            #expect(view.fillsUsed == 1 && view.prescription.medicationRequestHash == request && view.fills.first?.pharmacy == pharmacy.derivedID)
        }
        for index in [2, 3] { #expect(PrescriptionContract.prescription(id, in: network.nodes[index].state) == nil) }
        // The unit is dispensed in shared state on every node; the other one is still active.
        for node in network.nodes {
            #expect(SupplyChainContract.unit(Self.gtin, "S001", atMs: network.clock.nowMs(), in: node.state).storedStatus == .dispensed)
            #expect(SupplyChainContract.unit(Self.gtin, "S002", atMs: network.clock.nowMs(), in: node.state).storedStatus == .active)
        }
        // The laboratory's node: no payload, no private state, and nowhere the MedicationRequest's
        // hash, the quantity's salted payloads or their salts.
        let ids = [issueTx.id, fillTx.id]
        #expect(network.stores[2].privatePayloads(ids).isEmpty)
        #expect(try network.stores[2].states(prefix: PrivateEnvelope.keyPrefix, after: nil, limit: 10).isEmpty)
        let laboratoryBytes = try PrivateDataTests.everything(in: network.stores[2], ids: ids)
        let pharmacyBytes = try PrivateDataTests.everything(in: network.stores[1], ids: ids)
        let secrets = [("MedicationRequest hash", request.bytes), ("issue salt", try #require(issueCall.payload).salt),
                       ("fill salt", try #require(fillCall.payload).salt)]
        for (what, secret) in secrets {
            #expect(!laboratoryBytes.contains(subsequence: secret), "the laboratory's node holds the \(what)")
            #expect(pharmacyBytes.contains(subsequence: secret), "the pharmacy's node lacks the \(what)")
        }
        // The issue on the shared chain names neither the patient nor the product: a call without
        // shared writes puts none of its shared reads (the patient's identity, the product) on the chain.
        #expect(!issueTx.bytes.contains(subsequence: patient.derivedID.bytes), "the issue's transaction names the patient")
        #expect(!issueTx.bytes.contains(subsequence: Array(Self.gtin.utf8)), "the issue's transaction names the product")
        #expect(!fillTx.bytes.contains(subsequence: patient.derivedID.bytes), "the fill's transaction names the patient")
        // Each node's full audit replays its own share.
        for store in network.stores {
            if case .failure(let error) = try ChainAudit.run(store: store) { Issue.record("\(error)") }
        }
        await network.stop()
    }

    static func serials(_ count: Int) -> [String] { (1...count).map { "S" + String(repeating: "0", count: max(0, 3 - String($0).count)) + String($0) } }

    /// The endorsement travels in the transaction (64 KiB at most): a fill whose units would not
    /// fit is refused when it is endorsed, with the sizes, before anything is signed.
    @Test func aFillTooLargeToCarryItsEndorsementIsRefusedWithTheSizes() async throws {
        let network = try await Self.network()
        let (hospital, pharmacy) = (network.organizations[0], network.organizations[1])
        let (doctor, patient) = try await Self.prepare(network, units: 120)
        let pair: Set = [hospital.derivedID, pharmacy.derivedID]
        let issued = try await network.commit(UnsignedCall(doctor, endorsedCall: PrescriptionContract.Issue(
            medicationRequestHash: Hash256.sha256([3]), patient: patient.derivedID, gtin: Self.gtin, quantity: 120, refills: 0,
            expiresMs: network.clock.nowMs() + Self.dayMs, pharmacies: [pharmacy.derivedID]), for: pair), through: 0)
        let envelope = try #require(EndorsedCall(args: issued.body.args)?.envelope)
        let id = EndorsedCall.callID(chainId: PrivateDataTests.chainId, sender: doctor.derivedID, sequence: issued.body.sequence, envelope: envelope)
        let fill = PrescriptionContract.Fill(prescription: id, units: Self.serials(120).map { SGTIN(gtin: Self.gtin, serial: $0) })
        do {
            _ = try await LedgerClient(node: network.nodes[1], endorser: network.endorsers[1]).sign(endorsing: UnsignedCall(pharmacy, endorsedCall: fill, for: pair))
            Issue.record("a fill of 120 units was endorsed")
        } catch let error as ServiceError {
            #expect(error.kind == .invalid && error.message.contains("the limit is \(Limits.transactionBytesMax)"), "\(error)")
        }
        await network.stop()
    }

    @Test func anEndorserDownIsNamedAndOneAtAnotherHeightIsAskedAgain() async throws {
        let network = try await Self.network()
        let (hospital, pharmacy) = (network.organizations[0], network.organizations[1])
        let (doctor, patient) = try await Self.prepare(network)
        let issue = PrescriptionContract.Issue(medicationRequestHash: Hash256.sha256([9]), patient: patient.derivedID, gtin: Self.gtin, quantity: 1,
                                               refills: 0, expiresMs: network.clock.nowMs() + Self.dayMs, pharmacies: [pharmacy.derivedID])
        let call = UnsignedCall(doctor, endorsedCall: issue, for: [hospital.derivedID, pharmacy.derivedID])
        let client = LedgerClient(node: network.nodes[0], endorser: network.endorsers[0])
        // The pharmacy's node does not answer: refused before anything is signed or ordered, naming it.
        network.links[0].unreachable.withLock { $0 = [pharmacy.derivedID] }
        do {
            _ = try await client.sign(endorsing: call)
            Issue.record("endorsed without the pharmacy's node")
        } catch let error as ServiceError {
            #expect(error.kind == .unavailable && error.message.contains("pharmacy's node did not endorse"), "\(error)")
        }
        #expect(network.links[0].endorsementsAsked.withLock { $0 } == 1)
        // Back, but first answering that its replica is at another height: simulated and asked again.
        network.links[0].unreachable.withLock { $0 = [] }
        network.links[0].conflictsFirst.withLock { $0 = 2 }
        _ = try await network.commit(call, through: 0)
        #expect(network.links[0].endorsementsAsked.withLock { $0 } == 4)
        await network.stop()
    }

    @Test func aNodeOutsideTheCollectionCannotEndorseAndAPharmacyNotNamedCannotFill() async throws {
        let network = try await Self.network()
        let (hospital, pharmacy, laboratory) = (network.organizations[0], network.organizations[1], network.organizations[2])
        let (doctor, patient) = try await Self.prepare(network)
        let pair: Set = [hospital.derivedID, pharmacy.derivedID]
        let issue = PrescriptionContract.Issue(medicationRequestHash: Hash256.sha256([7]), patient: patient.derivedID, gtin: Self.gtin, quantity: 1,
                                               refills: 0, expiresMs: network.clock.nowMs() + Self.dayMs, pharmacies: [pharmacy.derivedID])
        // Sent to the laboratory's node, which the call does not name: it does not simulate it.
        await #expect(throws: ServiceError.self) {
            _ = try await LedgerClient(node: network.nodes[2], endorser: network.endorsers[2]).sign(endorsing: UnsignedCall(doctor, endorsedCall: issue, for: pair))
        }
        // A private issue must name the collection its contract entitles: the hospital alone is refused.
        await #expect(throws: Refused.self) {
            _ = try await LedgerClient(node: network.nodes[0], endorser: network.endorsers[0])
                .sign(endorsing: UnsignedCall(doctor, endorsedCall: issue, for: [hospital.derivedID]))
        }
        let issueTx = try await network.commit(UnsignedCall(doctor, endorsedCall: issue, for: pair), through: 0)
        let envelope = try #require(EndorsedCall(args: issueTx.body.args)?.envelope)
        let id = EndorsedCall.callID(chainId: PrivateDataTests.chainId, sender: doctor.derivedID, sequence: issueTx.body.sequence, envelope: envelope)
        // The laboratory cannot fill it: it is no pharmacy, and it holds nothing of the prescription.
        let fill = PrescriptionContract.Fill(prescription: id, units: [SGTIN(gtin: Self.gtin, serial: "S001")])
        await #expect(throws: ServiceError.self) {
            _ = try await LedgerClient(node: network.nodes[2], endorser: network.endorsers[2])
                .sign(endorsing: UnsignedCall(laboratory, endorsedCall: fill, for: pair))
        }
        // A forged endorsement (the hospital's signature replaced by the laboratory's) is refused by every node.
        let fillCall = UnsignedCall(pharmacy, endorsedCall: fill, for: pair)
        let honest = try await LedgerClient(node: network.nodes[1], endorser: network.endorsers[1]).sign(endorsing: fillCall)
        let forgedTx = try EndorsedCall.forge(honest, sender: pharmacy) { message, endorsed in
            endorsed.signatures.map {
                $0.organization == hospital.derivedID ? EndorsedCall.Signature(organization: $0.organization, bytes: laboratory.sign(message)) : $0
            }
        }
        let payload = try #require(fillCall.payload).encoded
        let refused = await network.nodes[1].submit([forgedTx], payloads: [forgedTx.id: payload])
        guard case .failure(.rejected(let rejection)) = refused[0] else { Issue.record("\(refused[0])"); return }
        #expect(rejection.code == .badEndorsement, "\(rejection.message)")
        // The honest one is accepted and fills it.
        let accepted = await network.nodes[1].submit([honest], payloads: [honest.id: payload])
        #expect(throws: Never.self) { try accepted[0].get() }
        await network.stop()
    }
}
