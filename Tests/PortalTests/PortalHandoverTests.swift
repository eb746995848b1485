import Contracts
import Foundation
import HTTPTypes
import LedgerCore
import Node
@testable import Portal
import Services
import Testing
import Vault

/// The custodian's key-handover desk: the hospital seals a FHIR-registered patient's held keys under a
/// one-time code shown once, and the file it offers opens with that code to the keys the ledger has
/// registered for her; no one else may use the desk, every form needs its CSRF token, and a wrong
/// patient is answered on the form.
@Suite("Portal: the custodian hands a patient her keys", .serialized)
struct PortalHandoverTests {
    static func text(_ body: String, id: String) -> String? {
        guard let range = body.range(of: #"id="\#(id)"[^>]*>([^<]*)<"#, options: .regularExpression) else { return nil }
        return String(body[range]).split(separator: ">", maxSplits: 1).last.map { String($0.dropLast()) }
    }

    @Test(.timeLimit(.minutes(3)))
    func theHospitalSealsHerKeysUnderACodeShownOnce() async throws {
        try await ClinicianWorld.with { world, browser in
            _ = try await browser.signIn(world.fixture.hospital)
            let form = try await browser.get("/portal/handover")
            #expect(form.status == .ok && form.body.contains("href=\"/portal/handover\" aria-current=\"page\""), "\(form.body.prefix(3_000))")
            let csrf = try #require(form.field("csrf"))
            let sealed = try await browser.post("/portal/handover", form: ["csrf": csrf, "patient": world.patient])
            #expect(sealed.status == .ok, "\(sealed.body.prefix(3_000))")
            let code = try #require(Self.text(sealed.body, id: "handover-code"))
            #expect(code.range(of: #"^[0-9A-Z]{4}(-[0-9A-Z]{4}){4}$"#, options: .regularExpression) != nil, "\(code)")
            let link = try #require(sealed.body.range(of: #"href="data:application/json;base64,[A-Za-z0-9+/=]+""#, options: .regularExpression))
            let base64 = sealed.body[link].dropFirst("href=\"data:application/json;base64,".count).dropLast()
            let file = try JSONDecoder().decode(PatientKeyFile.self, from: try #require(Data(base64Encoded: String(base64))))
            #expect(file.id == world.pseudonym.hex)
            #expect(throws: (any Error).self, "the file does not open without the code") { try file.open(passphrase: "0000-0000-0000-0000-0000") }
            let opened = try file.open(passphrase: code)
            let registered = try #require(Directory.identity(world.pseudonym, in: world.fixture.node.state))
            #expect(opened.kind == .handover && opened.keys.signingPublicKey == registered.signingKey)
            #expect(sealed.headers[.cacheControl] == "no-store", "the code is shown once: no cache keeps the page")

            // Sealing again makes a new code.
            let again = try await browser.post("/portal/handover", form: ["csrf": csrf, "patient": world.pseudonym.hex])
            #expect(again.status == .ok && Self.text(again.body, id: "handover-code") != code)
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func aWrongPatientIsAnsweredOnTheFormAndChangesNothing() async throws {
        try await ClinicianWorld.with { world, browser in
            _ = try await browser.signIn(world.fixture.hospital)
            let csrf = try #require(try await browser.get("/portal/handover").field("csrf"))
            let cases: [(patient: String, status: Int, says: String)] = [
                ("no-such-patient", 404, "no patient Patient/no-such-patient"),
                ("", 400, "FHIR id or ledger id (at most 128 characters)"),
                (world.fixture.clinician.derivedID.hex, 404, "is not a patient"),
                (String(repeating: "x", count: 200), 400, "at most 128 characters"),
            ]
            for (patient, status, says) in cases {
                let page = try await browser.post("/portal/handover", form: ["csrf": csrf, "patient": patient])
                #expect(Int(page.status.code) == status && page.body.contains("id=\"handover-error\"") && page.body.contains(says),
                        "\(patient.prefix(20)): \(page.status) \(page.body.prefix(2_000))")
                #expect(!page.body.contains("id=\"handover-code\""))
            }
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func onlyTheCustodianOrItsAdminsMayUseTheDeskAndEveryFormNeedsItsToken() async throws {
        try await ClinicianWorld.with { world, browser in
            // A clinician of the hospital: no link, and the page refuses.
            _ = try await browser.signIn(world.doctor)
            let chart = try await browser.get("/portal/clinician")
            #expect(!chart.body.contains("/portal/handover"))
            #expect(try await browser.get("/portal/handover").status == .forbidden)
            let csrf = try #require(chart.field("csrf"))
            let refused = try await browser.post("/portal/handover", form: ["csrf": csrf, "patient": world.patient])
            #expect(refused.status == .forbidden && !refused.body.contains("handover-code"))

            // The hospital itself, without its token or with another session's.
            var hospital = PortalBrowser(client: browser.client)
            _ = try await hospital.signIn(world.fixture.hospital)
            #expect(try await hospital.post("/portal/handover", form: ["patient": world.patient]).status == .forbidden)
            #expect(try await hospital.post("/portal/handover", form: ["csrf": csrf, "patient": world.patient]).status == .forbidden)
        }
    }
}
