import Contracts
import Crypto
import Foundation
import LedgerCore
import Node
import Services
import Testing
import Vault

@Suite("Portal in headless Chromium: the main story, every role on one node", .serialized)
struct PortalMainStoryBrowserTests {
    /// The story the portal exists for, in two browsers against one node (browser/main_story.py):
    /// the hospital hands a FHIR-registered patient her keys at its desk; she takes control in her
    /// browser, grants the clinic; the clinic's clinician reads her chart; she revokes; the clinician
    /// is refused; her access log shows both; a payer sees an adjudicated claim; a pharmacist catches
    /// a counterfeit serial and reports it; the auditor verifies proofs in the browser. Then the ledger holds what
    /// the pages said, and her new private keys are in no request body the server received and in
    /// no file it stored. Screenshots in .build/test-output/portal-main-story/.
    @Test(.timeLimit(.minutes(12)), .enabled(if: BrowserTools.missing == nil, "\(BrowserTools.missing ?? "")"))
    func everyRoleThroughTheMainStory() async throws {
        try await PortalFixture.with(withManufacturer: true) { fixture in
            let clinical = try await ClinicianWorld(fixture)
            let supply = try await PayerPharmacyWorld(fixture)
            let passphrase = "correct horse battery"
            var keys: [String: String] = [:]
            for (name, identity) in [("hospital", fixture.hospital), ("clinician", fixture.clinician), ("payer", supply.payerAgent),
                                     ("pharmacist", supply.pharmacist), ("auditor", fixture.auditor)] {
                let file = fixture.directory.appendingPathComponent("keys/\(name).json")
                try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
                try PortalFixture.keyFile(name, identity, passphrase: passphrase).write(to: file)
                keys[name] = file.path
            }
            let pharmacistBrowserKey = fixture.directory.appendingPathComponent("keys/pharmacist-plain.json")
            try PortalFixture.keyFile("pharmacist", supply.pharmacist, passphrase: nil).write(to: pharmacistBrowserKey)
            // Downloads land outside the node's directory: that one is searched for her private keys.
            let downloads = FileManager.default.temporaryDirectory.appendingPathComponent("careledger-main-story-\(UUID().uuidString)")
            let staffDownloads = downloads.appendingPathComponent("staff"), patientDownloads = downloads.appendingPathComponent("patient")
            for directory in [staffDownloads, patientDownloads] { try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true) }
            defer { try? FileManager.default.removeItem(at: downloads) }
            let output = BrowserTools.output.deletingLastPathComponent().appendingPathComponent("portal-main-story")
            try? FileManager.default.removeItem(at: output)
            let backupPassphrase = "a long backup passphrase"
            let received = ReceivedBodies()
            let result = try await PortalPatientBrowserTests.withRecordingServer(fixture, fhir: clinical.fhir, received) { port in
                let config: [String: Any] = [
                    "base": "http://127.0.0.1:\(port)", "passphrase": passphrase, "keys": keys, "patient": clinical.patient,
                    "family": "Quillfeather", "clinic": fixture.clinic.derivedID.hex, "clinician_label": "Dr. <Cleo> & Co",
                    "backup_passphrase": backupPassphrase, "counterfeit": "(01)\(supply.gtin)(21)FAKE-0042", "output": output.path,
                    "pharmacist_browser_key": pharmacistBrowserKey.path,
                    "staff_downloads": staffDownloads.path, "patient_downloads": patientDownloads.path,
                ]
                let configFile = downloads.appendingPathComponent("story.json")
                try JSONSerialization.data(withJSONObject: config).write(to: configFile)
                return try await BrowserTools.run([configFile.path], script: BrowserTools.packageRoot.appendingPathComponent("Tests/PortalTests/browser/main_story.py"),
                                                  in: fixture.directory, timeoutSeconds: 360)
            }
            result.expectPassed("main story: all steps passed")

            // The ledger: she rotated to keys her browser made; one consent, to the clinic, revoked.
            let state = fixture.node.state
            let identity = try #require(Directory.identity(clinical.pseudonym, in: state))
            #expect(identity.keyVersion == 2, "one rotation, signed in her browser")
            let consents = try fixture.access.patientConsents(clinical.pseudonym, as: identity, after: nil, limit: 10)["consents"] as? [JSONObject] ?? []
            #expect(consents.count == 1 && consents.first?["active"] as? Bool == false)
            // The clinician's reads were permits and the read after the revocation a logged refusal.
            let byClinician = try clinical.accessLog().filter { $0.requester == fixture.clinician.derivedID }.map(\.outcome)
            #expect(byClinician.contains(.permit) && byClinician.contains(.deny), "\(byClinician)")
            // The pharmacist's report is on the ledger: an incident against the serial, by the pharmacy.
            let view = await LedgerView.of(fixture.node, audit: fixture.access)
            let standing = try view.serial(gtin: supply.gtin, serial: "FAKE-0042")
            #expect(standing["incident_count"] as? Int64 == 1, "\(standing)")
            // The new patient the browser registered, with keys it made.
            let newPatient = try #require(result.output.firstMatch(of: /new patient: ([0-9a-f]{64})/).flatMap { Hash256(hex: String($0.output.1)) },
                                          "\(result.output.suffix(2_000))")
            let registered = try #require(Directory.identity(newPatient, in: state))
            #expect(registered.kind == .patient && registered.keyVersion == 1)
            // The node no longer needs its copy of her old keys.
            #expect(try clinical.fhir.forgetSupersededKeys(of: [clinical.pseudonym]) == 1)

            // Her new keys: in the backup her browser saved, and in no request body or stored file.
            let backups = try FileManager.default.contentsOfDirectory(at: patientDownloads, includingPropertiesForKeys: nil).filter { $0.pathExtension == "json" }
            let backup = try JSONDecoder().decode(PatientKeyFile.self, from: Data(contentsOf: try #require(backups.first, "no backup saved")))
            let opened = try backup.open(passphrase: backupPassphrase)
            #expect(opened.kind == .backup && opened.keys.signingPublicKey == identity.signingKey)
            // The new patient's too: her backup is the one the staff desk's browser saved.
            let newBackupURL = try #require(try FileManager.default.contentsOfDirectory(at: staffDownloads, includingPropertiesForKeys: nil)
                .first { $0.lastPathComponent.hasPrefix("careledger-patient-") }, "no backup saved for the new patient")
            let newBackup = try JSONDecoder().decode(PatientKeyFile.self, from: Data(contentsOf: newBackupURL)).open(passphrase: backupPassphrase)
            #expect(newBackup.keys.signingPublicKey == registered.signingKey)
            let secrets = [opened.keys, newBackup.keys].flatMap { [$0.signing.rawRepresentation, $0.agreement.rawRepresentation].map { Array($0) } }
            PortalPatientBrowserTests.expectNeverSent(secrets, bodies: received.all, stored: fixture.directory)
            for name in ["1-hospital-handover.png", "2-patient-in-control.png", "3-patient-granted.png", "4-clinician-reads.png", "5-patient-revoked.png",
                         "5-clinician-refused.png", "6-patient-access-log.png", "7-payer-claims.png", "8-pharmacist-counterfeit.png",
                         "9-auditor-verified.png", "10-new-patient.png", "10-patient-restored.png"] {
                #expect(FileManager.default.fileExists(atPath: output.appendingPathComponent(name).path), "\(name)")
            }
        }
    }
}
