import Contracts
import Foundation
import LedgerCore
import Node
import Services
import Testing
import Vault

/// The keys a node made for a patient registered over FHIR are handed to her by the custodian
/// (a `handover` key file under a one-time code), and forgotten once she rotates to her own.
@Suite("A patient's keys handed over, then forgotten after her rotation")
struct PatientHandoverTests {
    @Test(.timeLimit(.minutes(3)))
    func theCustodianHandsTheKeysOverAndForgetsThemOnceSheRotates() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("careledger-handover-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        var directory = DataDirectory(url: root, passphrase: "pass phrase")
        directory.keyCost = .testing
        _ = try directory.initialize(chainId: "handover-test", organizations: [OrganizationSpec(name: "general-hospital", type: .hospital),
                                                                                OrganizationSpec(name: "city-clinic", type: .clinic)])
        let ledger = try await LocalLedger.open(directory, blockDelayMs: 2)
        do {
            let hospitalKeys = try directory.loadKey("general-hospital")
            let doctorKeys = IdentityKeys.generate()
            try await ledger.commit(ledger.sign(hospitalKeys, MembershipContract.Enroll(
                label: "dr-hale", roles: [.clinician], signingKey: doctorKeys.signingPublicKey, agreementKey: doctorKeys.agreementPublicKey)))
            let hospital = try #require(Directory.identity(hospitalKeys.derivedID, in: ledger.node.state))
            let clinic = try #require(Directory.identity(try directory.loadKey("city-clinic").derivedID, in: ledger.node.state))
            let doctor = try #require(Directory.identity(doctorKeys.derivedID, in: ledger.node.state))

            // Registered over FHIR: the node makes her keys and keeps them.
            let created = try await ledger.fhir.create(["resourceType": "Patient", "name": [["family": "Doe", "given": ["Jane"]]]],
                                                       type: "Patient", requester: doctor)
            let patient = created.entry.patient
            #expect(ledger.fhir.patientKeys.holds(patient))

            // Only the custodian (or its admins) hands keys over.
            #expect(throws: ServiceError.self) { try ledger.fhir.handOver(patient: created.id, requester: doctor) }
            #expect(throws: ServiceError.self) { try ledger.fhir.handOver(patient: "no-such-patient", requester: hospital) }
            // Another custodian this node serves is not hers: the hospital registered her.
            #expect(ledger.access.custodianIDs.contains(clinic.id))
            #expect(throws: ServiceError.self) { try ledger.fhir.handOver(patient: created.id, requester: clinic) }
            #expect(throws: ServiceError.self) { try ledger.fhir.handOver(patient: patient.hex, requester: clinic) }
            let handover = try ledger.fhir.handOver(patient: created.id, requester: hospital)
            #expect(handover.patient == patient && handover.file.id == patient.hex)
            #expect(handover.code.range(of: #"^([0-9A-HJKMNP-TV-Z]{4}-){4}[0-9A-HJKMNP-TV-Z]{4}$"#, options: .regularExpression) != nil, "\(handover.code)")
            #expect(throws: VaultError.self) { try handover.file.open(passphrase: "WRONG-CODE") }
            let opened = try handover.file.open(passphrase: handover.code)
            #expect(opened.kind == .handover && opened.keys.derivedID == patient)
            // By her ledger id too, with another code each time.
            let again = try ledger.fhir.handOver(patient: patient.hex, requester: hospital)
            #expect(again.code != handover.code)

            // She rotates to keys only she holds, signing with the handed-over key; the node forgets its copy.
            let own = IdentityKeys.generate()
            try await ledger.commit(ledger.sign(opened.keys, MembershipContract.RotateKey(signingKey: own.signingPublicKey,
                                                                                          agreementKey: own.agreementPublicKey)))
            let deadline = ContinuousClock.now + .seconds(60)
            while ledger.fhir.patientKeys.holds(patient), ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
            #expect(!ledger.fhir.patientKeys.holds(patient), "the custodian's copy is deleted once the rotation commits")
            #expect(!(try directory.keyNames()).contains { $0.hasPrefix("patient-") })
            #expect(throws: ServiceError.self) { try ledger.fhir.handOver(patient: created.id, requester: hospital) }
        } catch {
            await ledger.close()
            throw error
        }
        await ledger.close()
    }
}
