import Contracts
import FHIR
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LedgerCore
import NIOCore
import Node
import Server
import Services
import Storage
import Testing
import Vault

/// A hospital node serving FHIR, a hospital clinician who writes, and a clinic doctor with no consent.
struct FHIRFixture {
    let directory: URL
    let node: LedgerNode
    let services: ServerServices
    let hospital = IdentityKeys(seed: Array(repeating: 11, count: 32))
    let clinic = IdentityKeys(seed: Array(repeating: 12, count: 32))
    let doctor = IdentityKeys(seed: Array(repeating: 13, count: 32))
    let clinicDoctor = IdentityKeys(seed: Array(repeating: 14, count: 32))
    let nodeKeys = IdentityKeys(seed: Array(repeating: 19, count: 32))
    let patientKeys = MemoryPatientKeyStore()
    static let chainId = "fhir-test"

    /// `clinicHeldHere`: the node holds the clinic's records too (both are custodians on it).
    init(clinicHeldHere: Bool = false, searchLimits: SearchLimits = .standard) async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("careledger-fhir-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let store = try SQLiteLedgerStore(path: directory.appendingPathComponent("ledger.sqlite").path)
        _ = try Genesis.create(in: store, chainId: Self.chainId, founders: [Founder(keys: hospital, label: "hospital", type: .hospital),
                                                                            Founder(keys: clinic, label: "clinic", type: .clinic)],
                               ordererKeys: nodeKeys, timeMs: Int64(Date().timeIntervalSince1970 * 1_000) - 60_000)
        node = try await LedgerNode(store: store, ordererKeys: nodeKeys, configuration: .init(blockDelayMs: 2))
        for (member, organization) in [(doctor, hospital), (clinicDoctor, clinic)] {
            let enroll = Transaction.sign(TransactionBody(
                chainId: Self.chainId, sender: organization.derivedID, publicKey: organization.signingPublicKey, sequence: 2,
                call: MembershipContract.Enroll(label: "doctor", roles: [.clinician], signingKey: member.signingPublicKey,
                                                agreementKey: member.agreementPublicKey)), with: organization)
            _ = try await node.submitAndWait(enroll, timeoutMs: 60_000)
        }
        let access = AccessService(node: node, vault: try SQLiteVaultStore(path: directory.appendingPathComponent("vault.sqlite").path),
                                   custodians: clinicHeldHere ? [hospital, clinic] : [hospital], indexKey: BlindIndexKey.derive(from: nodeKeys.agreement))
        services = ServerServices(node: node, nodeKeys: nodeKeys, tokens: await TokenAuthority(nodeKeys: nodeKeys, chainId: Self.chainId, publicURL: ServerFixture.publicURL,
                                                               usedAssertions: InMemoryUsedAssertions()),
                                  fhir: FHIRService(client: LedgerClient(node: node), access: access, patientKeys: patientKeys,
                                                    recordIDs: FHIRRecordIDs(key: RecordIDKey.derive(from: nodeKeys.agreement)), searchLimits: searchLimits))
    }

    static func with(clinicHeldHere: Bool = false, searchLimits: SearchLimits = .standard, _ body: (FHIRFixture) async throws -> Void) async throws {
        let fixture = try await FHIRFixture(clinicHeldHere: clinicHeldHere, searchLimits: searchLimits)
        do { try await body(fixture) } catch {
            await fixture.node.stop()
            throw error
        }
        await fixture.node.stop()
        try? FileManager.default.removeItem(at: fixture.directory)
    }

    var application: some ApplicationProtocol { LedgerServer.application(services, port: 0) }

    /// The record of FHIR resource `type/id` on this node (keyed: `FHIRRecordIDs`).
    func recordID(type: String, id: String) -> Hash256 { services.fhir!.recordID(type: type, id: id) }

    /// The ledger patient behind a FHIR Patient id.
    func ledgerPatient(_ patientID: String) -> IdentityID? { services.fhir!.recordIDs.ledgerPatient(patientID, in: node.state) }
}

/// A small HTTP client over the test client: JSON in, status and JSON out.
struct FHIRClient {
    let client: any TestClientProtocol
    let bearer: String?

    func call(_ method: HTTPRequest.Method, _ uri: String, _ body: [String: Any]? = nil, raw: String? = nil,
              headers extra: HTTPFields = [:]) async throws -> (status: HTTPResponse.Status, json: [String: Any], headers: HTTPFields) {
        var headers = extra
        if let bearer { headers[.authorization] = "Bearer \(bearer)" }
        var buffer: ByteBuffer?
        if let body { buffer = ByteBuffer(bytes: FHIRJSON.data(body)) }
        if let raw { buffer = ByteBuffer(string: raw) }
        if buffer != nil, headers[.contentType] == nil { headers[.contentType] = "application/fhir+json" }
        return try await client.execute(uri: uri, method: method, headers: headers, body: buffer) { response in
            (response.status, object(response.body), response.headers)
        }
    }

    /// Creates a resource (expecting 201) and returns its id.
    func create(_ resource: [String: Any]) async throws -> String {
        let created = try await call(.post, "/fhir/\(resource["resourceType"] as? String ?? "")", resource)
        #expect(created.status == .created, "\(created.json)")
        return try #require(created.json["id"] as? String)
    }
}

func issueCode(_ outcome: [String: Any]) -> String? { ((outcome["issue"] as? [[String: Any]])?.first)?["code"] as? String }

@Suite("FHIR R4 server: CRUD, history, search, consent and errors", .serialized)
struct FHIRServerTests {
    static var patient: [String: Any] { [
        "resourceType": "Patient", "name": [["family": "Okafor", "given": ["Ada"]]], "gender": "female", "birthDate": "1984-07-12",
        "identifier": [["system": "urn:test:mrn", "value": "MRN-4242"]],
    ] }

    static func observation(_ patient: String, code: String, date: String) -> [String: Any] {
        ["resourceType": "Observation", "status": "final", "subject": ["reference": "Patient/\(patient)"], "effectiveDateTime": date,
         "code": ["coding": [["system": "http://loinc.org", "code": code]]], "valueQuantity": ["value": 7, "unit": "%"]]
    }

    @Test(.timeLimit(.minutes(3)))
    func crudHistoryAndConditionalWrites() async throws {
        try await FHIRFixture.with { fixture in try await fixture.application.test(.router) { client in
            let doctor = FHIRClient(client: client, bearer: try await token(client, for: fixture.doctor))
            let metadata = try await FHIRClient(client: client, bearer: nil).call(.get, "/fhir/metadata")
            #expect(metadata.status == .ok)
            #expect(metadata.json["fhirVersion"] as? String == "4.0.1")
            #expect(metadata.headers[.contentType]?.hasPrefix("application/fhir+json") == true)

            let created = try await doctor.call(.post, "/fhir/Patient", Self.patient)
            #expect(created.status == .created, "\(created.json)")
            let id = try #require(created.json["id"] as? String)
            #expect(created.headers[.location]?.hasSuffix("/fhir/Patient/\(id)/_history/1") == true)
            #expect(created.headers[.eTag] == "W/\"1\"")
            #expect((created.json["meta"] as? [String: Any])?["versionId"] as? String == "1")

            let read = try await doctor.call(.get, "/fhir/Patient/\(id)")
            #expect(read.status == .ok)
            #expect(read.json["birthDate"] as? String == "1984-07-12")

            // Update with the right If-Match, then a stale one (412), then without the id (400).
            var changed = read.json
            changed["gender"] = "other"
            let updated = try await doctor.call(.put, "/fhir/Patient/\(id)", changed, headers: [.ifMatch: "W/\"1\""])
            #expect(updated.status == .ok, "\(updated.json)")
            #expect(updated.headers[.eTag] == "W/\"2\"")
            let stale = try await doctor.call(.put, "/fhir/Patient/\(id)", changed, headers: [.ifMatch: "W/\"1\""])
            #expect(stale.status == .preconditionFailed)
            #expect(issueCode(stale.json) == "conflict")
            var noID = changed
            noID["id"] = nil
            #expect(try await doctor.call(.put, "/fhir/Patient/\(id)", noID).status == .badRequest)

            let old = try await doctor.call(.get, "/fhir/Patient/\(id)/_history/1")
            #expect(old.json["gender"] as? String == "female")
            let history = try await doctor.call(.get, "/fhir/Patient/\(id)/_history")
            #expect(history.json["type"] as? String == "history")
            let versions = (history.json["entry"] as? [[String: Any]] ?? []).compactMap { (($0["resource"] as? [String: Any])?["meta"] as? [String: Any])?["versionId"] as? String }
            #expect(versions == ["2", "1"])

            // Conditional create: an existing match is returned, not duplicated.
            let again = try await doctor.call(.post, "/fhir/Patient", Self.patient, headers: [HTTPField.Name("If-None-Exist")!: "identifier=MRN-4242"])
            #expect(again.status == .ok)
            #expect(again.json["id"] as? String == id)

            // Observations need an existing patient.
            let orphan = try await doctor.call(.post, "/fhir/Observation", Self.observation("missing", code: "1-1", date: "2024-01-01"))
            #expect(orphan.status == .unprocessableContent)
            let observation = try await doctor.call(.post, "/fhir/Observation", Self.observation(id, code: "4548-4", date: "2024-05-01"))
            #expect(observation.status == .created)
            let observationID = try #require(observation.json["id"] as? String)

            // Delete erases, by the custodian organization (or its administrators) only, as the records
            // contract has it — not by a clinician (bad-input table, 2026-12-05). The read is 410 Gone, history too.
            let byClinician = try await doctor.call(.delete, "/fhir/Observation/\(observationID)")
            #expect(byClinician.status == .forbidden && issueCode(byClinician.json) == "forbidden", "\(byClinician.json)")
            #expect(try await doctor.call(.get, "/fhir/Observation/\(observationID)").status == .ok)
            let hospital = FHIRClient(client: client, bearer: try await token(client, for: fixture.hospital))
            let deleted = try await hospital.call(.delete, "/fhir/Observation/\(observationID)")
            #expect(deleted.status == .ok, "\(deleted.json)")
            #expect(try await doctor.call(.get, "/fhir/Observation/\(observationID)").status == .gone)
            #expect(try await doctor.call(.get, "/fhir/Observation/\(observationID)/_history").status == .gone)
            #expect(try await doctor.call(.delete, "/fhir/Observation/\(observationID)").status == .gone)
        } }
    }

    @Test(.timeLimit(.minutes(3)))
    func searchPagingIncludeAndConsent() async throws {
        try await FHIRFixture.with { fixture in try await fixture.application.test(.router) { client in
            let doctor = FHIRClient(client: client, bearer: try await token(client, for: fixture.doctor))
            let patientID = try #require(try await doctor.call(.post, "/fhir/Patient", Self.patient).json["id"] as? String)
            var other = Self.patient
            other["name"] = [["family": "Lindqvist", "given": ["Bo"]]]
            other["identifier"] = [["value": "MRN-1"]]
            let otherID = try #require(try await doctor.call(.post, "/fhir/Patient", other).json["id"] as? String)
            for (index, date) in ["2023-01-15", "2023-06-30", "2024-02-01T08:00:00Z", "2024-11-20"].enumerated() {
                let code = index % 2 == 0 ? "4548-4" : "2345-7"
                #expect(try await doctor.call(.post, "/fhir/Observation", Self.observation(patientID, code: code, date: date)).status == .created)
            }
            #expect(try await doctor.call(.post, "/fhir/Observation", Self.observation(otherID, code: "4548-4", date: "2024-03-03")).status == .created)

            func total(_ query: String) async throws -> Int? { try await doctor.call(.get, "/fhir/\(query)").json["total"] as? Int }
            #expect(try await total("Observation?patient=\(patientID)") == 4)
            #expect(try await total("Observation?subject=Patient/\(patientID)") == 4)
            #expect(try await total("Observation?code=4548-4") == 3)
            #expect(try await total("Observation?code=http://loinc.org%7C4548-4&patient=\(patientID)") == 2)
            #expect(try await total("Observation?code=4548-4,2345-7&patient=\(patientID)") == 4)
            #expect(try await total("Observation?date=2023") == 2)
            #expect(try await total("Observation?date=ge2024-01-01") == 3)
            #expect(try await total("Observation?date=lt2023-06-30") == 1)
            #expect(try await total("Observation?date=le2023-06-30") == 2)
            #expect(try await total("Observation?date=gt2024-02-01&date=lt2024-12-01") == 2)
            #expect(try await total("Patient?name=okaf") == 1)
            #expect(try await total("Patient?family=Lindqvist") == 1)
            #expect(try await total("Patient?identifier=MRN-4242") == 1)
            #expect(try await total("Patient?gender=female") == 2)
            #expect(try await total("Patient?birthdate=1984-07") == 2)
            #expect(try await total("Observation?_summary=count") == 5)

            // Paging: absolute next links until the end, every match once, newest first.
            var seen: [String] = []
            var next: String? = "/fhir/Observation?_count=2"
            while let link = next {
                let page = try await doctor.call(.get, link)
                #expect(page.status == .ok)
                seen += (page.json["entry"] as? [[String: Any]] ?? []).compactMap { ($0["resource"] as? [String: Any])?["id"] as? String }
                let url = ((page.json["link"] as? [[String: Any]]) ?? []).first { $0["relation"] as? String == "next" }?["url"] as? String
                #expect(url == nil || url!.hasPrefix("http://"))
                next = url.map { String($0[$0.range(of: "/fhir/")!.lowerBound...]) }
            }
            #expect(seen.count == 5 && Set(seen).count == 5)

            // _include brings the patient, once.
            let included = try await doctor.call(.get, "/fhir/Observation?patient=\(patientID)&_include=Observation:patient")
            let modes = (included.json["entry"] as? [[String: Any]] ?? []).compactMap { ($0["search"] as? [String: Any])?["mode"] as? String }
            #expect(modes.filter { $0 == "include" }.count == 1)
            #expect(modes.filter { $0 == "match" }.count == 4)

            // $everything: the patient and their four observations; type history, newest first.
            let everything = try await doctor.call(.get, "/fhir/Patient/\(patientID)/$everything")
            #expect(everything.json["total"] as? Int == 5, "\(everything.json)")
            let history = try await doctor.call(.get, "/fhir/Observation/_history?_count=3")
            #expect(history.json["type"] as? String == "history")
            #expect((history.json["entry"] as? [[String: Any]])?.count == 3)
            #expect(try await doctor.call(.get, "/fhir/Patient/\(patientID)/$lookup").status == .notFound)

            // Bulk export: asynchronous kick-off, status, NDJSON only for the requester.
            #expect(try await doctor.call(.get, "/fhir/$export?_type=Patient,Observation").status == .badRequest)
            let kickoff = try await doctor.call(.get, "/fhir/$export?_type=Patient,Observation", headers: [HTTPField.Name("Prefer")!: "respond-async"])
            #expect(kickoff.status == .accepted)
            let statusURL = try #require(kickoff.headers[.contentLocation])
            let statusPath = String(statusURL[statusURL.range(of: "/fhir/")!.lowerBound...])
            var manifest: [String: Any] = [:]
            for _ in 0..<300 {
                let status = try await doctor.call(.get, statusPath)
                if status.status == .ok { manifest = status.json; break }
                #expect(status.status == .accepted)
                try await Task.sleep(for: .milliseconds(50))
            }
            let outputs = try #require(manifest["output"] as? [[String: Any]])
            #expect(Dictionary(uniqueKeysWithValues: outputs.map { ($0["type"] as? String ?? "", $0["count"] as? Int ?? 0) }) == ["Patient": 2, "Observation": 5])
            let fileURL = try #require(outputs.first { $0["type"] as? String == "Observation" }?["url"] as? String)
            let filePath = String(fileURL[fileURL.range(of: "/fhir/")!.lowerBound...])
            let ndjson = try await client.execute(uri: filePath, method: .get, headers: [.authorization: doctor.bearer.map { "Bearer \($0)" } ?? ""]) {
                String(buffer: $0.body)
            }
            let lines = ndjson.split(separator: "\n")
            #expect(lines.count == 5)
            #expect(lines.allSatisfy { String($0).contains("\"resourceType\":\"Observation\"") })
            let stranger = FHIRClient(client: client, bearer: try await token(client, for: fixture.clinicDoctor))
            #expect(try await stranger.call(.get, statusPath).status == .forbidden)
            #expect(try await stranger.call(.get, filePath).status == .forbidden)

            // POST _search matches GET.
            let posted = try await doctor.call(.post, "/fhir/Observation/_search", raw: "code=4548-4",
                                               headers: [.contentType: "application/x-www-form-urlencoded"])
            #expect(posted.json["total"] as? Int == 3)

            // Unknown parameters: ignored with a warning, or 400 under Prefer: handling=strict.
            let lenient = try await doctor.call(.get, "/fhir/Observation?colour=red")
            #expect(lenient.json["total"] as? Int == 5)
            #expect(((lenient.json["entry"] as? [[String: Any]]) ?? []).contains { ($0["search"] as? [String: Any])?["mode"] as? String == "outcome" })
            let strict = try await doctor.call(.get, "/fhir/Observation?colour=red", headers: [HTTPField.Name("Prefer")!: "handling=strict"])
            #expect(strict.status == .badRequest)
            #expect(try await doctor.call(.get, "/fhir/Observation?date=2024-13").status == .badRequest)
            #expect(try await doctor.call(.get, "/fhir/Observation?date=ne2024").status == .ok, "ne is a date prefix (issue 15, item 3)")
            #expect(try await doctor.call(.get, "/fhir/Observation?date=xx2024").status == .badRequest)

            // The clinic doctor has no consent: to him the Patient is "not known" (404, as a missing one), searches see
            // nothing — and both are audited.
            let clinic = FHIRClient(client: client, bearer: try await token(client, for: fixture.clinicDoctor))
            let denied = try await clinic.call(.get, "/fhir/Patient/\(patientID)")
            #expect(denied.status == .notFound)
            #expect(issueCode(denied.json) == "not-found")
            #expect(try await clinic.call(.get, "/fhir/Observation?patient=\(patientID)").json["total"] as? Int == 0)
            #expect(try await clinic.call(.get, "/fhir/Patient/\(patientID)/$everything").status == .notFound)
            #expect((try await clinic.call(.get, "/fhir/Observation/_history").json["entry"] as? [Any]) == nil)
            let fhir = try #require(fixture.services.fhir)
            let patientRecord = try #require(RecordIndex.current(fixture.recordID(type: "Patient", id: patientID), in: fixture.node.state))
            let log = try fhir.access.accessLog(patient: patientRecord.patient)
            #expect(log.contains { $0.entry.requester == fixture.clinicDoctor.derivedID && $0.entry.outcome == .deny })
            #expect(log.contains { $0.entry.requester == fixture.doctor.derivedID && $0.entry.outcome == .permit })

            // The same log over FHIR as BALP AuditEvents: for the patient (keys the custodian generated) and the custodian, not a clinician.
            let patientKeys = try #require(fixture.patientKeys.keys(of: patientRecord.patient))
            let patient = FHIRClient(client: client, bearer: try await token(client, for: patientKeys))
            let events = try await patient.call(.get, "/fhir/AuditEvent?patient=\(patientID)&_count=500")
            #expect(events.status == .ok, "\(events.json)")
            let resources = (events.json["entry"] as? [[String: Any]] ?? []).compactMap { $0["resource"] as? [String: Any] }
            #expect(resources.count == log.count)
            #expect(resources.contains { $0["outcome"] as? String == "4" }, "the clinic's denial is an AuditEvent with outcome 4")
            #expect(resources.allSatisfy { (($0["meta"] as? [String: Any])?["profile"] as? [String])?.first?.contains("BALP") == true })
            let one = try await patient.call(.get, "/fhir/AuditEvent/\(resources[0]["id"] as? String ?? "")")
            #expect(one.status == .ok)
            #expect(try await doctor.call(.get, "/fhir/AuditEvent?patient=\(patientID)").status == .notFound)
            let hospital = FHIRClient(client: client, bearer: try await token(client, for: fixture.hospital))
            #expect(try await hospital.call(.get, "/fhir/AuditEvent?patient=\(patientID)").status == .ok)

            // The same objects through /v1: records, a release the requester decrypts with its own key, consents, the log.
            let patientHex = patientRecord.patient.hex
            let listed = try await patient.call(.get, "/v1/patients/\(patientHex)/records?limit=1000")
            #expect((listed.json["records"] as? [Any])?.count == 5, "\(listed.json)")
            #expect(try await clinic.call(.get, "/v1/patients/\(patientHex)/records").status == .forbidden)
            let recordHex = patientRecord.record.hex
            let described = try await doctor.call(.get, "/v1/records/\(recordHex)")
            #expect((described.json["versions"] as? [Any])?.count == 1)
            #expect(try await clinic.call(.get, "/v1/records/\(recordHex)").status == .notFound)
            let refusedRelease = try await clinic.call(.get, "/v1/records/\(recordHex)/release")
            #expect(refusedRelease.status == .notFound)
            #expect(refusedRelease.json["error"] as? String == "not_found")
            let release = try await doctor.call(.get, "/v1/records/\(recordHex)/release")
            #expect(release.status == .ok)
            let wrapped = try WrappedKey(bytes: Array(try #require(Data(base64Encoded: release.json["wrapped_key"] as? String ?? ""))))
            let sealed = try SealedRecord(bytes: Array(try #require(Data(base64Encoded: release.json["sealed_record"] as? String ?? ""))))
            let dataKey = try KeyWrap.unwrap(wrapped, with: fixture.doctor.agreement,
                                             context: WrapContext(record: patientRecord.record, version: 1, recipient: fixture.doctor.derivedID))
            let plaintext = try RecordCipher.open(sealed, with: dataKey, record: patientRecord.record, version: 1)
            #expect(String(decoding: plaintext, as: UTF8.self).contains("Okafor"), "the requester decrypts the release with its own key")
            #expect((try await patient.call(.get, "/v1/patients/\(patientHex)/consents").json["consents"] as? [Any])?.isEmpty == true)
            #expect(try await doctor.call(.get, "/v1/patients/\(patientHex)/consents").status == .forbidden)
            let accessLog = try await patient.call(.get, "/v1/patients/\(patientHex)/access-log?limit=1000")
            #expect((accessLog.json["entries"] as? [[String: Any]])?.contains { $0["outcome"] as? String == "deny" } == true)
            #expect(try await doctor.call(.get, "/v1/patients/\(patientHex)/access-log").status == .forbidden)

            // Provenance from the chain: author, custodian, block, transaction and its signature.
            let provenance = try await doctor.call(.get, "/fhir/Provenance?target=Patient/\(patientID)")
            let record = try #require(((provenance.json["entry"] as? [[String: Any]])?.first)?["resource"] as? [String: Any])
            #expect(provenance.json["total"] as? Int == 1)
            #expect(((record["signature"] as? [[String: Any]])?.first)?["data"] is String)
            let agents = (record["agent"] as? [[String: Any]] ?? []).compactMap { (($0["who"] as? [String: Any])?["identifier"] as? [String: Any])?["value"] as? String }
            #expect(agents == [fixture.doctor.derivedID.hex, fixture.hospital.derivedID.hex])
            #expect(try await clinic.call(.get, "/fhir/Provenance?target=Patient/\(patientID)").status == .notFound)

            // The patient grants the clinic doctor through a FHIR Consent: signed on-chain, enforced, revocable.
            let grant: [String: Any] = [
                "resourceType": "Consent", "status": "active",
                "scope": ["coding": [["system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"]]],
                "category": [["coding": [["system": "http://loinc.org", "code": "59284-0"]]]],
                "patient": ["reference": "Patient/\(patientID)"],
                "policyRule": ["coding": [["system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "OPTIN"]]],
                "provision": ["type": "permit",
                              "actor": [["role": ["coding": [["system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP"]]],
                                         "reference": ["identifier": ["system": "urn:careledger:identity", "value": fixture.clinicDoctor.derivedID.hex]]]],
                              "purpose": [["system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "TREAT"]],
                              "class": [["system": "http://hl7.org/fhir/resource-types", "code": "Patient"]]],
            ]
            let granted = try await patient.call(.post, "/fhir/Consent", grant)
            #expect(granted.status == .created, "\(granted.json)")
            let consentID = try #require(granted.json["id"] as? String)
            #expect(consentID.hasPrefix("ledger-"))
            #expect(try await clinic.call(.get, "/fhir/Patient/\(patientID)").status == .ok, "the consent is enforced")
            #expect(try await clinic.call(.get, "/fhir/Observation?patient=\(patientID)").json["total"] as? Int == 0, "its scope is Patient only")
            let listedConsents = try await patient.call(.get, "/fhir/Consent?patient=\(patientID)")
            #expect((listedConsents.json["entry"] as? [[String: Any]])?.contains { ($0["resource"] as? [String: Any])?["id"] as? String == consentID } == true)
            #expect(try await patient.call(.get, "/fhir/Consent/\(consentID)").json["status"] as? String == "active")
            #expect(try await patient.call(.delete, "/fhir/Consent/\(consentID)").status == .ok)
            #expect(try await patient.call(.get, "/fhir/Consent/\(consentID)").json["status"] as? String == "inactive")
            #expect(try await clinic.call(.get, "/fhir/Patient/\(patientID)").status == .notFound, "revoked from the next block")
            // A clinician's Consent is only a record: nothing is enforced.
            let recorded = try await doctor.call(.post, "/fhir/Consent", grant)
            #expect(recorded.status == .created)
            #expect((recorded.json["id"] as? String)?.hasPrefix("ledger-") == false)
        } }
    }

    /// A transaction of more than 1,000 entries with urn:uuid references commits whole; the same
    /// with one bad entry stores nothing at all.
    @Test(.timeLimit(.minutes(4)))
    func largeTransactionsAreAllOrNothing() async throws {
        try await FHIRFixture.with { fixture in try await fixture.application.test(.router) { client in
            let doctor = FHIRClient(client: client, bearer: try await token(client, for: fixture.doctor))
            func bundle(observations: Int, breakAt: Int? = nil) -> [String: Any] {
                var entries: [[String: Any]] = [["fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000001",
                                                 "resource": Self.patient, "request": ["method": "POST", "url": "Patient"]]]
                for index in 0..<observations {
                    var observation = Self.observation("x", code: "718-7", date: "2024-01-01")
                    observation["subject"] = ["reference": "urn:uuid:00000000-0000-4000-8000-000000000001"]
                    if index == breakAt { observation["status"] = "" }
                    entries.append(["fullUrl": "urn:uuid:\(UUID().uuidString.lowercased())", "resource": observation,
                                    "request": ["method": "POST", "url": "Observation"]])
                }
                return ["resourceType": "Bundle", "type": "transaction", "entry": entries]
            }
            let broken = try await doctor.call(.post, "/fhir", bundle(observations: 1_100, breakAt: 1_050))
            #expect(broken.status == .badRequest, "\(broken.json)")
            #expect(issueCode(broken.json) == "invalid")
            #expect(try await doctor.call(.get, "/fhir/Observation?_summary=count").json["total"] as? Int == 0)
            #expect(try await doctor.call(.get, "/fhir/Patient?_summary=count").json["total"] as? Int == 0)

            let dangling = ["resourceType": "Bundle", "type": "transaction", "entry": [
                ["resource": Self.observation("x", code: "1-1", date: "2024-01-01").merging(["subject": ["reference": "urn:uuid:nowhere"]]) { $1 },
                 "request": ["method": "POST", "url": "Observation"]]]] as [String: Any]
            #expect(try await doctor.call(.post, "/fhir", dangling).status == .badRequest)

            let whole = try await doctor.call(.post, "/fhir", bundle(observations: 1_100))
            #expect(whole.status == .ok, "\(issueCode(whole.json) ?? "")")
            let entries = whole.json["entry"] as? [[String: Any]] ?? []
            #expect(entries.count == 1_101)
            #expect(entries.allSatisfy { (($0["response"] as? [String: Any])?["status"] as? String)?.hasPrefix("201") == true })
            let patientID = try #require((entries.first?["resource"] as? [String: Any])?["id"] as? String)
            #expect(try await doctor.call(.get, "/fhir/Observation?patient=\(patientID)&_summary=count").json["total"] as? Int == 1_100)
            // References were rewritten to the assigned ids.
            let firstObservation = try #require(entries[1]["resource"] as? [String: Any])
            #expect((firstObservation["subject"] as? [String: Any])?["reference"] as? String == "Patient/\(patientID)")
        } }
    }

    /// Many clients writing at once: each write signs with the custodian's next sequence number
    /// in submission order, so none is refused for a gap.
    @Test(.timeLimit(.minutes(5)))
    func concurrentWritesAllSucceed() async throws {
        try await FHIRFixture.with { fixture in try await fixture.application.test(.router) { client in
            let doctor = FHIRClient(client: client, bearer: try await token(client, for: fixture.doctor))
            let patientID = try #require(try await doctor.call(.post, "/fhir/Patient", Self.patient).json["id"] as? String)
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for index in 0..<24 {
                    group.addTask {
                        try await doctor.call(.post, "/fhir/Observation", Self.observation(patientID, code: "29463-7", date: "2024-02-\(10 + index % 10)")).status
                    }
                }
                var out: [HTTPResponse.Status] = []
                for try await status in group { out.append(status) }
                return out
            }
            #expect(statuses.allSatisfy { $0 == .created }, "\(statuses)")
            #expect(try await doctor.call(.get, "/fhir/Observation?patient=\(patientID)&_summary=count").json["total"] as? Int == 24)
        } }
    }

    /// `$validate` at type and instance level (issue 15, item 2): the OperationOutcome of the R4
    /// checks, for the resource or a Parameters resource holding it; nothing is stored.
    @Test(.timeLimit(.minutes(5)))
    func validateAtTypeAndInstanceLevelStoresNothing() async throws {
        try await FHIRFixture.with { fixture in try await fixture.application.test(.router) { client in
            let doctor = FHIRClient(client: client, bearer: try await token(client, for: fixture.doctor))
            let patientID = try #require(try await doctor.call(.post, "/fhir/Patient", Self.patient).json["id"] as? String)
            let count = { try await doctor.call(.get, "/fhir/Observation?patient=\(patientID)&_summary=count").json["total"] as? Int }
            let valid = Self.observation(patientID, code: "29463-7", date: "2024-02-10")
            let ok = try await doctor.call(.post, "/fhir/Observation/$validate", valid)
            #expect(ok.status == .ok && ok.json["resourceType"] as? String == "OperationOutcome", "\(ok.json)")
            #expect((ok.json["issue"] as? [[String: Any]])?.allSatisfy { $0["severity"] as? String == "information" } == true, "\(ok.json)")
            // Without its code, inside Parameters: 200, the problem named with its expression.
            var missing = valid
            missing["code"] = nil
            let wrapped: [String: Any] = ["resourceType": "Parameters", "parameter": [["name": "resource", "resource": missing]]]
            let bad = try await doctor.call(.post, "/fhir/Observation/$validate", wrapped)
            let issues = bad.json["issue"] as? [[String: Any]] ?? []
            #expect(bad.status == .ok && issues.contains { $0["severity"] as? String == "error" && ($0["expression"] as? [String])?.first == "Observation.code" },
                    "\(bad.json)")
            // Instance level: the id in the body must be the URL's; another type is refused.
            var withID = valid
            withID["id"] = "obs-1"
            #expect(try await doctor.call(.post, "/fhir/Observation/obs-1/$validate", withID).status == .ok)
            #expect(try await doctor.call(.post, "/fhir/Observation/obs-2/$validate", withID).status == .badRequest)
            #expect(try await doctor.call(.post, "/fhir/Patient/$validate", valid).status == .badRequest)
            #expect(try await doctor.call(.post, "/fhir/Observation/obs-1/$everything", withID).status == .methodNotAllowed)
            #expect(try await count() == 0, "$validate stored nothing")
        } }
    }

    /// With the records service the OpenAPI document lists the record routes too, and each is served.
    @Test(.timeLimit(.minutes(5)))
    func everyDocumentedRouteIsServedWithRecords() async throws {
        try await FHIRFixture.with { fixture in try await fixture.application.test(.router) { client in
            let doctor = FHIRClient(client: client, bearer: try await token(client, for: fixture.doctor))
            let paths = try #require(try await doctor.call(.get, "/v1/openapi.json").json["paths"] as? [String: [String: Any]])
            #expect(paths["/v1/records/{id}/release"] != nil)
            for (path, operations) in paths {
                let uri = path.replacingOccurrences(of: "{id}", with: fixture.doctor.derivedID.hex).replacingOccurrences(of: "{height}", with: "0")
                    .replacingOccurrences(of: "{", with: "").replacingOccurrences(of: "}", with: "")
                for method in operations.keys {
                    let answer = try await doctor.call(method == "post" ? .post : .get, uri)
                    #expect((answer.status != .notFound || answer.json["error"] != nil) && answer.status != .methodNotAllowed, "\(method) \(path)")
                }
            }
        } }
    }

    @Test(.timeLimit(.minutes(5)))
    func badInputGetsOperationOutcomes() async throws {
        // Over a real socket: oversized and malformed bodies and unsupported media types as a real connection delivers them.
        try await FHIRFixture.with { fixture in try await fixture.application.test(.live) { client in
            let doctor = FHIRClient(client: client, bearer: try await token(client, for: fixture.doctor))
            let anonymous = FHIRClient(client: client, bearer: nil)
            let cases: [(String, HTTPRequest.Method, String, String?, HTTPFields, HTTPResponse.Status, String)] = [
                ("no token", .get, "/fhir/Patient/x", nil, [:], .unauthorized, "login"),
                ("malformed JSON", .post, "/fhir/Patient", "{", [:], .badRequest, "invalid"),
                ("not an object", .post, "/fhir/Patient", "[1]", [:], .badRequest, "invalid"),
                ("wrong resourceType for the URL", .post, "/fhir/Patient", #"{"resourceType":"Observation"}"#, [:], .badRequest, "invalid"),
                ("empty string", .post, "/fhir/Patient", #"{"resourceType":"Patient","gender":""}"#, [:], .badRequest, "invalid"),
                ("invalid reference", .post, "/fhir/Observation", #"{"resourceType":"Observation","status":"final","code":{"text":"x"},"subject":{"reference":"Patient"}}"#,
                 [:], .badRequest, "invalid"),
                ("unsupported media type", .post, "/fhir/Patient", #"{"resourceType":"Patient"}"#, [.contentType: "text/plain"],
                 .unsupportedMediaType, "not-supported"),
                ("XML asked for", .get, "/fhir/metadata", nil, [.accept: "application/fhir+xml"], .notAcceptable, "not-supported"),
                ("unknown type", .get, "/fhir/Pet/1", nil, [:], .notFound, "not-found"),
                ("bad id", .get, "/fhir/Patient/a_b", nil, [:], .badRequest, "invalid"),
                ("bad purpose of use", .get, "/fhir/Patient/x", nil, [HTTPField.Name("X-Purpose-Of-Use")!: "FUN"], .badRequest, "invalid"),
                ("bad If-Match", .put, "/fhir/Patient/x", #"{"resourceType":"Patient","id":"x"}"#, [.ifMatch: "nope"], .badRequest, "invalid"),
            ]
            for (name, method, uri, body, headers, status, code) in cases {
                let caller = name == "no token" ? anonymous : doctor
                let answer = try await caller.call(method, uri, raw: body, headers: headers)
                #expect(answer.status == status, "\(name): \(answer.json)")
                #expect(answer.json["resourceType"] as? String == "OperationOutcome", "\(name)")
                #expect(issueCode(answer.json) == code, "\(name): \(answer.json)")
            }
            // A body over the limit: 413, and nothing stored.
            let huge = "{\"resourceType\":\"Patient\",\"gender\":\"" + String(repeating: "x", count: FHIRJSON.resourceBytesMax) + "\"}"
            let tooLarge = try await doctor.call(.post, "/fhir/Patient", raw: huge)
            #expect(tooLarge.status == .contentTooLarge)
            #expect(try await doctor.call(.get, "/fhir/Patient?_summary=count").json["total"] as? Int == 0)
            // A clinic member may not write into the hospital's records.
            let clinic = FHIRClient(client: client, bearer: try await token(client, for: fixture.clinicDoctor))
            let refused = try await clinic.call(.post, "/fhir/Patient", Self.patient)
            #expect(refused.status == .forbidden)
        } }
    }
}

@Suite("HTTP dates")
struct HTTPDateTests {
    @Test(arguments: [(Int64(0), "Thu, 01 Jan 1970 00:00:00 GMT"), (784_111_777_000, "Sun, 06 Nov 1994 08:49:37 GMT"),
                      (951_782_400_000, "Tue, 29 Feb 2000 00:00:00 GMT"), (1_796_016_204_602, "Mon, 30 Nov 2026 05:23:24 GMT")])
    func imfFixdate(_ ms: Int64, _ expected: String) {
        #expect(FHIRDateTime.httpDate(ms: ms) == expected)
    }
}
