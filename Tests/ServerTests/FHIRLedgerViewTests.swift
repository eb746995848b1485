import Contracts
import FHIR
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LedgerCore
import Node
import Server
import Services
import Testing

/// ../shared/tools/fhir-validate on resources the server returned. Tests that use it are
/// `.enabled(if: SharedValidator.available, SharedValidator.skipReason)`.
enum SharedValidator {
    static var tool: String { SharedData.url("tools/fhir-validate").path }
    static var available: Bool { FileManager.default.isExecutableFile(atPath: tool) }
    static var skipReason: Comment { SharedData.reason("tools/fhir-validate") }

    /// Writes each resource to a file and validates them all; returns the validator's output.
    static func validate(_ resources: [[String: Any]]) async throws -> String {
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("careledger-validate-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: out) }
        for (index, resource) in resources.enumerated() {
            try FHIRJSON.data(resource, pretty: true).withUnsafeBufferPointer { try Data($0).write(to: out.appendingPathComponent("\(index).json")) }
        }
        let path = tool, folder = out.path
        return try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                do {
                    let process = Process()
                    // At low priority, like every helper process: the timed suites beside it come first.
                    process.executableURL = URL(fileURLWithPath: "/usr/bin/nice")
                    process.arguments = ["-n", "10", path, folder]
                    let pipe = Pipe()
                    process.standardOutput = pipe
                    process.standardError = pipe
                    try process.run()
                    let data = pipe.fileHandleForReading.readDataToEndOfFile()
                    process.waitUntilExit()
                    continuation.resume(returning: String(decoding: data, as: UTF8.self))
                } catch { continuation.resume(throwing: error) }
            }
        }
    }

    /// Expects "N passed, 0 failed" with N ≥ `count`.
    static func expectValid(_ output: String, count: Int) {
        let summary = output.range(of: #"(\d+) passed, (\d+) failed"#, options: .regularExpression).map { String(output[$0]) } ?? "no summary"
        let numbers = summary.split(separator: " ").compactMap { Int($0) }
        #expect(numbers.count == 2 && numbers[0] >= count && numbers[1] == 0, "\(summary): \(output.suffix(2_000))")
    }
}

/// Trials, prescriptions and telehealth sessions read back through FHIR, for the right people only,
/// and valid FHIR R4 (with the ClaimResponse of $submit).
@Suite("FHIR views of the contracts' objects", .serialized)
struct FHIRLedgerViewTests {
    static let sponsor = IdentityKeys(seed: Array(repeating: 41, count: 32))
    static let maker = IdentityKeys(seed: Array(repeating: 42, count: 32))
    static let patient = IdentityKeys(seed: Array(repeating: 43, count: 32))

    /// Commits a trial, a prescription with a fill, a telehealth session and a claim, checks their
    /// FHIR views (and who may read them), and returns the views.
    static func readViews(_ fixture: FHIRFixture, _ client: any TestClientProtocol) async throws -> [[String: Any]] {
        func commit(_ keys: IdentityKeys, _ call: some ContractMethod) async throws -> Hash256 {
            try await TelehealthRelayTests.submit(fixture.node, chainId: FHIRFixture.chainId, keys, call)
        }
        let now = max(Int64(Date().timeIntervalSince1970 * 1_000), await fixture.node.headHeader.timeMs)
        for (keys, type) in [(Self.sponsor, OrganizationType.sponsor), (Self.maker, .manufacturer)] {
            _ = try await commit(fixture.clinic, MembershipContract.AdmitOrganization(
                label: type.rawValue, organizationType: type, signingKey: keys.signingPublicKey, agreementKey: keys.agreementPublicKey))
        }
        _ = try await commit(Self.patient, MembershipContract.RegisterPatient(agreementKey: Self.patient.agreementPublicKey))
        _ = try await commit(Self.sponsor, TrialsContract.Register(
            trial: "NCT-TEST-1", protocolHash: Hash256.sha256([1]), consentFormVersion: 1, primaryEndpoints: ["PFS"], secondaryEndpoints: ["OS"],
            sites: [fixture.hospital.derivedID]))
        _ = try await commit(Self.sponsor, TrialsContract.ReportResults(trial: "NCT-TEST-1", primaryEndpoints: ["OS"], resultsHash: Hash256.sha256([2])))
        let gtin = (0...9).map { "0061414100001\($0)" }.first(where: gs1CheckDigitValid)!
        _ = try await commit(Self.maker, SupplyChainContract.RegisterProduct(gtin: gtin, label: "metformin 500 mg"))
        let rx = try await commit(fixture.doctor, PrescriptionContract.Issue(
            medicationRequestHash: Hash256.sha256([3]), patient: Self.patient.derivedID, gtin: gtin, quantity: 1, refills: 2,
            expiresMs: now + 30 * 86_400_000))
        _ = try await commit(Self.maker, SupplyChainContract.Commission(gtin: gtin, lot: "L9", expiryMs: now + 100 * 86_400_000, serials: ["S1"]))
        let unit = SGTIN(gtin: gtin, serial: "S1")
        _ = try await commit(Self.maker, SupplyChainContract.Ship(to: fixture.hospital.derivedID, units: [unit]))
        _ = try await commit(fixture.hospital, SupplyChainContract.Receive(from: Self.maker.derivedID, units: [unit]))
        _ = try await commit(fixture.hospital, PrescriptionContract.Fill(prescription: rx, units: [unit]))
        let session = Hash256.sha256([4])
        _ = try await commit(fixture.doctor, TelehealthContract.Open(
            session: session, patient: Self.patient.derivedID, consentToRecord: false, keyCommitment: Hash256.sha256([5]), startMs: now))

        let doctor = FHIRClient(client: client, bearer: try await token(client, for: fixture.doctor))
        let outsider = FHIRClient(client: client, bearer: try await token(client, for: fixture.clinicDoctor))
        let study = try await doctor.call(.get, "/fhir/ResearchStudy/ledger-NCT-TEST-1")
        #expect(study.status == .ok, "\(study.json)")
        let notes = ((study.json["note"] as? [[String: Any]]) ?? []).compactMap { $0["text"] as? String }
        #expect(notes.contains { $0.hasPrefix("OUTCOME SWITCHING") && $0.contains("added OS") && $0.contains("dropped PFS") }, "\(notes)")
        let request = try await doctor.call(.get, "/fhir/MedicationRequest/ledger-\(rx.hex.prefix(56))")
        #expect(request.status == .ok && (request.json["dispenseRequest"] as? [String: Any])?["numberOfRepeatsAllowed"] as? Int == 2)
        #expect(try await outsider.call(.get, "/fhir/MedicationRequest/ledger-\(rx.hex.prefix(56))").status == .forbidden)
        let dispense = try await doctor.call(.get, "/fhir/\("MedicationDispense")/\(LedgerResources.dispenseID(rx, 1))")
        #expect(dispense.status == .ok && (dispense.json["identifier"] as? [[String: Any]])?.first?["value"] as? String == "(01)\(gtin)(21)S1",
                "\(dispense.json)")
        #expect(try await outsider.call(.get, "/fhir/MedicationDispense/\(LedgerResources.dispenseID(rx, 1))").status == .forbidden)
        #expect(try await doctor.call(.get, "/fhir/MedicationDispense/\(LedgerResources.dispenseID(rx, 2))").status == .notFound)
        let encounter = try await doctor.call(.get, "/fhir/Encounter/ledger-\(session.hex.prefix(56))")
        #expect(encounter.status == .ok && encounter.json["status"] as? String == "planned")
        #expect(try await outsider.call(.get, "/fhir/Encounter/ledger-\(session.hex.prefix(56))").status == .forbidden)
        #expect(try await doctor.call(.get, "/fhir/Encounter/ledger-\(String(repeating: "0", count: 56))").status == .notFound)
        #expect(try await doctor.call(.get, "/fhir/ResearchStudy/ledger-NCT-NONE").status == .notFound)

        // A claim through $submit, so its ClaimResponse is validated too.
        let created = try await doctor.call(.post, "/fhir/Patient", FHIRServerTests.patient)
        let patientID = try #require(created.json["id"] as? String)
        try await FHIRClaimTests.setUpPayer(fixture, patient: try #require(fixture.ledgerPatient(patientID)))
        let visit = try await doctor.call(.post, "/fhir/Encounter", [
            "resourceType": "Encounter", "status": "finished", "subject": ["reference": "Patient/\(patientID)"],
            "class": ["system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"]])
        let claim = try await doctor.call(.post, "/fhir/Claim/$submit",
                                          FHIRClaimTests.claim("V-1", patient: patientID, encounter: try #require(visit.json["id"] as? String)))
        #expect(claim.status == .ok)
        return [study.json, request.json, dispense.json, encounter.json, claim.json]
    }

    @Test(.timeLimit(.minutes(5)))
    func researchStudyMedicationRequestEncounterAndClaimResponse() async throws {
        try await FHIRFixture.with { fixture in try await fixture.application.test(.router) { client in
            let views = try await Self.readViews(fixture, client)
            #expect(views.count == 5)
        } }
    }

    @Test(.timeLimit(.minutes(5)), .enabled(if: SharedValidator.available, SharedValidator.skipReason))
    func theViewsAreValidFHIR() async throws {
        try await FHIRFixture.with { fixture in try await fixture.application.test(.router) { client in
            let views = try await Self.readViews(fixture, client)
            SharedValidator.expectValid(try await SharedValidator.validate(views), count: 5)
        } }
    }
}
