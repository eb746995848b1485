import Contracts
import FHIR
import Foundation
import LedgerCore
import Node
import Server
import Services
import Testing

@Suite("PortalClinician in headless Chromium: find a patient, read, add a record, prescribe", .serialized)
struct PortalClinicianBrowserTests {
    /// The clinician story over a real socket: sign in with a sealed key file, find the patient by
    /// name, read her chart and a record, add an observation (a wrong value first: the validator's
    /// error on the form), and prescribe signing with the key file. Then the ledger holds what the
    /// pages said: the new record and the doctor's prescription. Screenshots in .build/test-output/portal/.
    @Test(.timeLimit(.minutes(12)), .enabled(if: BrowserTools.missing == nil, "\(BrowserTools.missing ?? "")"))
    func findReadAddAndPrescribe() async throws {
        try await PortalFixture.with(withManufacturer: true) { fixture in
            let world = try await ClinicianWorld(fixture)
            let key = fixture.directory.appendingPathComponent("hana.json")
            try PortalFixture.keyFile("hana", world.doctor, passphrase: "correct horse").write(to: key)
            let expires = PortalClinicianRouteTests.inAMonth()
            let result = try await LedgerServer.withServerInProcess(services: { url in await fixture.services(publicURL: url, fhir: world.fhir) }) { port in
                try await BrowserTools.run(["clinician", "http://127.0.0.1:\(port)", key.path, "correct horse", "Quillfeather", ClinicianWorld.gtin,
                                            expires, BrowserTools.output.path], in: fixture.directory, timeoutSeconds: 180)
            }
            result.expectPassed("clinician browser test: all steps passed")

            let state = fixture.node.state
            let doctor = try #require(Directory.identity(world.doctor.derivedID, in: state))
            let observations = try await world.fhir.search(try SearchQuery(type: "Observation", pairs: [("subject", "Patient/\(world.patient)")], strict: true),
                                                           requester: doctor, purpose: .treatment)
            #expect(observations.total == 2, "the heart rate and the observation the browser added")
            #expect(observations.matches.contains { ($0.resource["code"] as? [String: Any]).flatMap(ClinicianRoutesText.code) == "8310-5" })
            #expect(BlockExecutor.lastSequence(of: world.doctor.derivedID, in: state) == 1, "one transaction signed with the doctor's key: the prescription")
            for name in ["clinician-search.png", "clinician-record.png", "clinician-add-error.png", "clinician-added.png", "clinician-prescribed.png",
                         "clinician-phone.png"] {
                #expect(FileManager.default.fileExists(atPath: BrowserTools.output.appendingPathComponent(name).path), "\(name)")
            }
        }
    }
}

/// Reads a CodeableConcept's first code (the test's own, so it does not lean on the page's summary).
enum ClinicianRoutesText {
    static func code(_ concept: [String: Any]) -> String? { (concept["coding"] as? [[String: Any]])?.first?["code"] as? String }
}
