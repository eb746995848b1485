import Contracts
import Crypto
import FHIR
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LedgerCore
import Node
@testable import Portal
import Server
import Services
import Storage
import Testing
import Vault

/// The hospital's world the clinician pages work in: the portal fixture with a manufacturer and its
/// product, the node's FHIR facade, a hospital doctor (clinician and emergency clinician), a clinic
/// emergency clinician with no consent, and one hospital patient with a heart-rate observation.
struct ClinicianWorld {
    let fixture: PortalFixture
    let fhir: FHIRService
    let client: LedgerClient
    /// General Hospital: clinician and emergency clinician (the custodian's care team for the patient).
    let doctor: IdentityKeys
    /// Riverside Clinic: emergency clinician, no consent from the patient.
    let emergency: IdentityKeys
    /// The patient's FHIR id, her pseudonym, and her observation's FHIR id.
    let patient: String
    let pseudonym: IdentityID
    let observation: String
    static let gtin = "00312345678906"
    /// What must never appear on a page that refused: her name, birth date, identifier, heart rate.
    static let phi = ["Zephyrine", "Quillfeather", "1980-04-12", "MRN-7731", "\"value\" : 72", ">72 /min", "Heart rate 72"]

    init(_ fixture: PortalFixture) async throws {
        let client = LedgerClient(node: fixture.node)
        let fhir = FHIRService(client: client, access: fixture.access, patientKeys: MemoryPatientKeyStore(),
                               recordIDs: FHIRRecordIDs(key: RecordIDKey.derive(from: fixture.nodeKeys.agreement)))
        let doctor = IdentityKeys(seed: Array(repeating: 51, count: 32)), emergency = IdentityKeys(seed: Array(repeating: 52, count: 32))
        try await client.commit(UnsignedCall(fixture.hospital, call: MembershipContract.Enroll(
            label: "Dr. Hana Okafor", roles: [.clinician, .emergencyClinician], signingKey: doctor.signingPublicKey, agreementKey: doctor.agreementPublicKey)))
        try await client.commit(UnsignedCall(fixture.clinic, call: MembershipContract.Enroll(
            label: "Dr. Emil Sorensen", roles: [.clinician, .emergencyClinician], signingKey: emergency.signingPublicKey,
            agreementKey: emergency.agreementPublicKey)))
        try await client.commit(UnsignedCall(fixture.manufacturer, call: SupplyChainContract.RegisterProduct(gtin: Self.gtin, label: "Amoxicillin 500 mg")))
        let author = try #require(Directory.identity(doctor.derivedID, in: fixture.node.state))
        let created = try await fhir.create(try FHIRJSON.object(Array(#"""
            {"resourceType":"Patient","name":[{"family":"Quillfeather","given":["Zephyrine"]}],"birthDate":"1980-04-12","gender":"female",
             "identifier":[{"system":"urn:example:mrn","value":"MRN-7731"}]}
            """#.utf8)), type: "Patient", requester: author)
        let observation = try await fhir.create(try FHIRJSON.object(Array(#"""
            {"resourceType":"Observation","status":"final","subject":{"reference":"Patient/\#(created.id)"},
             "code":{"coding":[{"system":"http://loinc.org","code":"8867-4","display":"Heart rate"}]},"valueQuantity":{"value":72,"unit":"/min"}}
            """#.utf8)), type: "Observation", requester: author)
        self.fixture = fixture
        self.client = client
        self.fhir = fhir
        self.doctor = doctor
        self.emergency = emergency
        patient = created.id
        pseudonym = created.entry.patient
        self.observation = observation.id
    }

    static func with(_ body: @escaping @Sendable (ClinicianWorld, inout PortalBrowser) async throws -> Void) async throws {
        try await PortalFixture.with(withManufacturer: true) { fixture in
            let world = try await ClinicianWorld(fixture)
            let services = await fixture.services(publicURL: PortalRouteTests.publicURL, fhir: world.fhir)
            try await LedgerServer.application(services, port: 0).test(.router) { client in
                var browser = PortalBrowser(client: client)
                try await body(world, &browser)
            }
        }
    }

    func keyFile(_ keys: IdentityKeys) throws -> Data { try PortalFixture.keyFile("staff", keys, passphrase: "pass phrase") }

    /// The patient's access-log entries at this node.
    func accessLog() throws -> [AuditEntry] { try fixture.access.accessLog(patient: pseudonym).map(\.entry) }
}

extension PortalBrowser {
    /// Posts a multipart form as a browser does, the key file as its `key` field.
    mutating func postMultipart(_ uri: String, fields: [String: String], key: Data?) async throws -> Page {
        let boundary = "----careledger\(UUID().uuidString.prefix(8))"
        var body = ""
        for (name, value) in fields.sorted(by: { $0.key < $1.key }) {
            body += "--\(boundary)\r\nContent-Disposition: form-data; name=\"\(name)\"\r\n\r\n\(value)\r\n"
        }
        if let key {
            body += "--\(boundary)\r\nContent-Disposition: form-data; name=\"key\"; filename=\"key.json\"\r\nContent-Type: application/json\r\n\r\n"
            body += String(decoding: key, as: UTF8.self) + "\r\n"
        }
        body += "--\(boundary)--\r\n"
        return try await request(.post, uri, contentType: "multipart/form-data; boundary=\(boundary)", body: Array(body.utf8))
    }
}

/// The clinician's pages in process: search, chart, record, add a record, break-glass, prescribe,
/// each through the service `/fhir`, `/v1` and the CLI use; refusals show no PHI; forms need CSRF.
@Suite("PortalClinician: route tests of the clinician pages", .serialized)
struct PortalClinicianRouteTests {
    @Test(.timeLimit(.minutes(3)))
    func aClinicianFindsReadsAndAddsARecord() async throws {
        try await ClinicianWorld.with { world, browser in
            _ = try await browser.signIn(world.doctor)
            let home = try await browser.get("/portal")
            #expect(home.status == .seeOther && home.headers[.location] == "/portal/clinician", "a clinician starts on the patient search")
            for query in ["name=Quillfeather", "identifier=MRN-7731", "birthdate=1980-04-12", "name=zeph&birthdate=1980"] {
                let found = try await browser.get("/portal/clinician?\(query)")
                #expect(found.status == .ok && found.body.contains("href=\"/portal/clinician/patient?id=\(world.patient)\"")
                        && found.body.contains("Zephyrine Quillfeather"), "\(query): \(found.body.prefix(3_000))")
            }
            let none = try await browser.get("/portal/clinician?name=Nobodyhere")
            #expect(none.body.contains("id=\"no-results\""))

            let chart = try await browser.get("/portal/clinician/patient?id=\(world.patient)")
            #expect(chart.status == .ok && chart.body.contains("Zephyrine Quillfeather") && chart.body.contains("1980-04-12"))
            #expect(chart.body.contains("Heart rate 72 /min"), "\(chart.body.prefix(4_000))")
            let record = try await browser.get("/portal/clinician/record?patient=\(world.patient)&type=Observation&id=\(world.observation)")
            #expect(record.status == .ok && record.body.contains("8867-4") && record.body.contains("Heart rate"))
            // Every read was a logged decision of the doctor's, before anything was shown.
            let reads = try world.accessLog().filter { $0.requester == world.doctor.derivedID }
            #expect(reads.count >= 3 && reads.allSatisfy { $0.outcome == .permit })

            let csrf = try #require(chart.field("csrf"))
            let saved = try await browser.post("/portal/clinician/patient/records", form: [
                "csrf": csrf, "patient": world.patient, "kind": "observation", "system": "http://loinc.org", "code": "8310-5",
                "display": "Body temperature", "value": "37.2", "unit": "Cel", "effective": "2026-01-05", "status": "final"])
            #expect(saved.status == .seeOther, "\(saved.body.prefix(3_000))")
            let location = try #require(saved.headers[.location])
            #expect(location.hasPrefix("/portal/clinician/record?patient=\(world.patient)&type=Observation&id="))
            let shown = try await browser.get(location)
            #expect(shown.body.contains("id=\"record-saved\"") && shown.body.contains("Body temperature") && shown.body.contains("37.2"))
            let condition = try await browser.post("/portal/clinician/patient/records", form: [
                "csrf": csrf, "patient": world.patient, "kind": "condition", "system": "http://snomed.info/sct", "code": "38341003",
                "display": "Hypertension", "clinicalStatus": "active", "onset": "2025-11-02"])
            #expect(condition.status == .seeOther, "\(condition.body.prefix(3_000))")
            let after = try await browser.get("/portal/clinician/patient?id=\(world.patient)")
            #expect(after.body.contains("Body temperature 37.2 Cel") && after.body.contains("Hypertension"))
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func aClinicianWithoutConsentSeesNoPHI() async throws {
        try await ClinicianWorld.with { world, browser in
            _ = try await browser.signIn(world.emergency)
            // The search form shows what was typed; nothing else of her: no match, not her given name.
            for query in ["name=Quillfeather", "identifier=MRN-7731", "birthdate=1980-04-12"] {
                let found = try await browser.get("/portal/clinician?\(query)")
                #expect(found.status == .ok && found.body.contains("id=\"no-results\"") && !found.body.contains("Zephyrine")
                        && !found.body.contains("href=\"/portal/clinician/patient?id="), "\(query)")
            }
            var pages: [PortalBrowser.Page] = []
            let chart = try await browser.get("/portal/clinician/patient?id=\(world.patient)")
            #expect(chart.status == .notFound && chart.body.contains("id=\"refusal\"") && chart.body.contains("no consent lets you read it"))
            #expect(chart.body.contains("id=\"break-glass-form\"") && chart.body.contains("the patient is told"))
            #expect(!chart.body.contains("id=\"prescribe-form\"") && !chart.body.contains("id=\"observation-form\""))
            let record = try await browser.get("/portal/clinician/record?patient=\(world.patient)&type=Observation&id=\(world.observation)")
            #expect(record.status == .notFound && record.body.contains("id=\"refusal\""))
            pages += [chart, record]
            for page in pages { for text in ClinicianWorld.phi { #expect(!page.body.contains(text), "a refused page shows \(text)") } }
            // The refusals are in the patient's access log, as denials of this clinician.
            let denied = try world.accessLog().filter { $0.requester == world.emergency.derivedID }
            #expect(!denied.isEmpty && denied.allSatisfy { $0.outcome == .deny })
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func formsWithoutTheirCSRFTokenAreRefused() async throws {
        try await ClinicianWorld.with { world, browser in
            _ = try await browser.signIn(world.doctor)
            let chart = try await browser.get("/portal/clinician/patient?id=\(world.patient)")
            let csrf = try #require(chart.field("csrf"))
            let observation = ["patient": world.patient, "kind": "observation", "system": "http://loinc.org", "code": "8867-4", "display": "Heart rate",
                               "value": "90", "unit": "/min", "status": "final"]
            for form in [observation, observation.merging(["csrf": "not-the-token"]) { $1 }] {
                let page = try await browser.post("/portal/clinician/patient/records", form: form)
                #expect(page.status == .forbidden && page.body.contains("CSRF"))
            }
            let foreign = try await browser.post("/portal/clinician/patient/records", form: observation.merging(["csrf": csrf]) { $1 },
                                                 headers: [.origin: "http://evil.example"])
            #expect(foreign.status == .forbidden)
            let glass = ["patient": world.patient, "reason": "unconscious", "justification": "arrived unresponsive", "minutes": "30",
                         "acknowledge": "yes", "passphrase": "pass phrase"]
            let noGlass = try await browser.postMultipart("/portal/clinician/patient/break-glass", fields: glass, key: try world.keyFile(world.doctor))
            #expect(noGlass.status == .forbidden && noGlass.body.contains("CSRF"))
            let rx = ["patient": world.patient, "gtin": ClinicianWorld.gtin, "quantity": "2", "refills": "0", "expires": "2099-01-01",
                      "passphrase": "pass phrase"]
            let noRx = try await browser.postMultipart("/portal/clinician/patient/prescribe", fields: rx, key: try world.keyFile(world.doctor))
            #expect(noRx.status == .forbidden && noRx.body.contains("CSRF"))
            // Nothing was written: no new record, no break-glass grant, no prescription (the doctor sent no transaction).
            let doctor = try #require(Directory.identity(world.doctor.derivedID, in: world.fixture.node.state))
            let query = try SearchQuery(type: "Observation", pairs: [("subject", "Patient/\(world.patient)")], strict: true)
            #expect(try await world.fhir.search(query, requester: doctor, purpose: .treatment).total == 1)
            #expect(ConsentIndex.breakGlass(patient: world.pseudonym, requester: world.doctor.derivedID, in: world.fixture.node.state) == nil)
            #expect(BlockExecutor.lastSequence(of: world.doctor.derivedID, in: world.fixture.node.state) == 0)
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func badInputShowsTheSpecificError() async throws {
        try await ClinicianWorld.with { world, browser in
            _ = try await browser.signIn(world.doctor)
            let search = try await browser.get("/portal/clinician?birthdate=yesterday")
            #expect(search.status == .badRequest && search.body.contains("id=\"search-error\"") && search.body.contains("birthdate"),
                    "\(search.body.prefix(3_000))")
            let chart = try await browser.get("/portal/clinician/patient?id=\(world.patient)")
            let csrf = try #require(chart.field("csrf"))
            let base = ["csrf": csrf, "patient": world.patient, "kind": "observation", "system": "http://loinc.org", "code": "8867-4",
                        "display": "Heart rate", "value": "80", "unit": "/min", "status": "final"]
            // Each case: the form's fields changed, and what the R4 validator or the service says about them.
            let cases: [([String: String], String)] = [
                (["value": "eighty"], "Observation.value.ofType(Quantity).value: must be a number"),
                (["code": "", "display": ""], "Observation.code: code is required"),
                (["status": "done"], "is not a code of the required value set"),
                (["kind": "json", "json": "{ not json"], "not valid JSON"),
                (["kind": "json", "json": #"{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/someone-else"}}"#],
                 "must be about this patient"),
                (["kind": "json", "json": #"{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient/\#(world.patient)"},"colour":"red"}"#],
                 "unknown element “colour”"),
            ]
            for (change, expected) in cases {
                let page = try await browser.post("/portal/clinician/patient/records", form: base.merging(change) { $1 })
                #expect(page.status == .badRequest && page.body.contains("id=\"add-error\""), "\(change): \(page.status)")
                #expect(page.body.contains(expected) || page.body.contains(expected.replacingOccurrences(of: "“", with: "&ldquo;")),
                        "\(change): \(page.body.components(separatedBy: "id=\"add-error\"").last?.prefix(800) ?? "")")
                if change["value"] != nil { #expect(page.body.contains("value=\"eighty\""), "the form keeps what was typed") }
            }
            let key = try world.keyFile(world.doctor)
            let rx = ["csrf": csrf, "patient": world.patient, "gtin": ClinicianWorld.gtin, "quantity": "2", "refills": "1", "expires": "2099-01-01",
                      "passphrase": "pass phrase"]
            let rxCases: [([String: String], String)] = [
                (["quantity": "two"], "the quantity (units per fill) must be a whole number"),
                (["expires": "31/12/2026"], "the expiry must be a date, YYYY-MM-DD"),
                (["gtin": "00312345678907"], "check digit"),
                (["gtin": "00012345678905"], "no product 00012345678905"),
                (["expires": "2099-01-01"], "at most 365 days later"),
                (["pharmacies": "not-an-id"], "is not a pharmacy&#39;s ledger id"),
                (["passphrase": "wrong"], "the passphrase does not open this key file"),
            ]
            for (change, expected) in rxCases {
                let page = try await browser.postMultipart("/portal/clinician/patient/prescribe", fields: rx.merging(change) { $1 }, key: key)
                #expect(page.body.contains("id=\"rx-error\"") && page.body.contains(expected), "\(change): \(page.body.components(separatedBy: "id=\"rx-error\"").last?.prefix(600) ?? "")")
                #expect((400..<500).contains(Int(page.status.code)), "\(change): \(page.status)")
            }
            let other = try await browser.postMultipart("/portal/clinician/patient/prescribe", fields: rx.merging(["expires": Self.inAMonth()]) { $1 },
                                                        key: try world.keyFile(world.emergency))
            #expect(other.status == .forbidden && other.body.contains("not the signed-in identity&#39;s current key"))
            let glass = ["csrf": csrf, "patient": world.patient, "reason": "unconscious", "justification": "arrived unresponsive", "minutes": "30",
                         "acknowledge": "yes", "passphrase": "pass phrase"]
            let glassCases: [([String: String], String)] = [
                (["justification": "  "], "needs a justification"),
                (["minutes": "600"], "lasts 1…240 minutes"),
                (["acknowledge": "no"], "Tick the box"),
            ]
            for (change, expected) in glassCases {
                let page = try await browser.postMultipart("/portal/clinician/patient/break-glass", fields: glass.merging(change) { $1 }, key: key)
                #expect(page.status == .badRequest && page.body.contains("id=\"glass-error\"") && page.body.contains(expected), "\(change)")
            }
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func breakGlassIsOnTheLedgerInTheAuditLogAndToldToThePatient() async throws {
        try await ClinicianWorld.with { world, browser in
            _ = try await browser.signIn(world.fixture.clinician)  // a clinician without the emergency-clinician role
            var refused = try await browser.get("/portal/clinician/patient?id=\(world.patient)")
            let glass = ["csrf": try #require(refused.field("csrf")), "patient": world.patient, "reason": "unconscious",
                         "justification": "Brought in unresponsive after a fall; allergies unknown", "minutes": "30", "acknowledge": "yes",
                         "passphrase": "pass phrase"]
            refused = try await browser.postMultipart("/portal/clinician/patient/break-glass", fields: glass,
                                                      key: try world.keyFile(world.fixture.clinician))
            #expect(refused.status == .unprocessableContent && refused.body.contains("emergency-clinician role"), "\(refused.body.prefix(3_000))")
            for text in ClinicianWorld.phi { #expect(!refused.body.contains(text)) }

            var emergency = PortalBrowser(client: browser.client)
            _ = try await emergency.signIn(world.emergency)
            let page = try await emergency.get("/portal/clinician/patient?id=\(world.patient)")
            #expect(page.status == .notFound)
            let granted = try await emergency.postMultipart("/portal/clinician/patient/break-glass",
                                                            fields: glass.merging(["csrf": try #require(page.field("csrf"))]) { $1 },
                                                            key: try world.keyFile(world.emergency))
            #expect(granted.status == .seeOther && granted.headers[.location] == "/portal/clinician/patient?id=\(world.patient)&purpose=ETREAT",
                    "\(granted.body.prefix(3_000))")
            let chart = try await emergency.get("/portal/clinician/patient?id=\(world.patient)&purpose=ETREAT")
            #expect(chart.status == .ok && chart.body.contains("Zephyrine Quillfeather") && chart.body.contains("id=\"emergency-banner\""))

            // On the ledger: the grant and the patient's notice.
            let state = world.fixture.node.state
            let grant = try #require(ConsentIndex.breakGlass(patient: world.pseudonym, requester: world.emergency.derivedID, in: state))
            #expect(grant.reason == .unconscious && grant.record == nil)
            let notices = try world.fixture.access.breakGlassNotices(world.pseudonym, as: nil)
            #expect(notices.count == 1 && notices.first?["requester"] as? String == world.emergency.derivedID.hex)
            // In the audit log: break-glass reads, the first carrying the justification sealed to the patient.
            let entries = try world.accessLog().filter { $0.requester == world.emergency.derivedID && $0.outcome == .breakGlass }
            #expect(entries.count >= 2, "the first read and the chart's")
            let sealed = try #require(entries.compactMap(\.sealedJustification).first)
            #expect(Hash256.sha256(sealed) == grant.justificationHash)
            let patientKeys = try #require(world.fhir.patientKeys.keys(of: world.pseudonym))
            #expect(try SealedNote.open(sealed, recipient: world.pseudonym, with: patientKeys.agreement) == glass["justification"])
            #expect(!entries.contains { $0.purpose != .emergencyTreatment })
        }
    }

    @Test(.timeLimit(.minutes(3)))
    func aClinicianPrescribesThroughTheRxService() async throws {
        try await ClinicianWorld.with { world, browser in
            _ = try await browser.signIn(world.doctor)
            let chart = try await browser.get("/portal/clinician/patient?id=\(world.patient)")
            let expires = Self.inAMonth()
            let issued = try await browser.postMultipart("/portal/clinician/patient/prescribe", fields: [
                "csrf": try #require(chart.field("csrf")), "patient": world.patient, "gtin": ClinicianWorld.gtin, "quantity": "2",
                "refills": "1", "expires": expires, "passphrase": "pass phrase"], key: try world.keyFile(world.doctor))
            #expect(issued.status == .seeOther, "\(issued.body.components(separatedBy: "id=\"rx-error\"").last?.prefix(600) ?? "")")
            let location = try #require(issued.headers[.location])
            let idText = try #require(location.components(separatedBy: "id=").last.map { String($0.prefix(64)) })
            let id = try #require(Hash256(hex: idText))
            let view = try #require(PrescriptionContract.prescription(id, in: world.fixture.node.state))
            let rx = view.prescription
            #expect(rx.prescriber == world.doctor.derivedID && rx.patient == world.pseudonym && rx.gtin == ClinicianWorld.gtin)
            #expect(rx.quantity == 2 && rx.refills == 1 && rx.pharmacies == nil)
            #expect(FHIRDateTime.instant(ms: rx.expiresMs).hasPrefix(expires + "T23:59:59"))
            let shown = try await browser.get(location)
            #expect(shown.status == .ok && shown.body.contains(id.hex) && shown.body.contains("Amoxicillin 500 mg") && shown.body.contains(rx.medicationRequestHash.hex))
        }
    }

    /// A date a month from now, YYYY-MM-DD (UTC).
    static func inAMonth() -> String {
        let date = CivilCalendar.date(daysSince1970: Int(Date().timeIntervalSince1970 / 86_400) + 30)
        return String(format: "%04d-%02d-%02d", date.year, date.month, date.day)
    }
}
