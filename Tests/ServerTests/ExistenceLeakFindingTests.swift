import Contracts
import Foundation
import HTTPTypes
import HummingbirdTesting
import LedgerCore
import NIOCore
import Node
import Server
import Services
import Testing

/// Security review finding 12: a denial named the patient's closest consent and why it failed
/// ("the consent does not cover this purpose of use; consent 3f…"), telling a requester that the
/// patient consented to someone, for what and until when; 403 against 404 told which ids exist;
/// "too costly" counted records the requester could not read. A requester now hears "not known"
/// alike for a missing and a refused record; the patient's access log keeps the real reason and
/// the consent. (The assertion cap, the finding's last line, is `TokenEndpointTests`.)
@Suite("Security finding 12: denials describe neither the patient's consents nor whether a record exists", .serialized)
struct ExistenceLeakFindingTests {
    @Test(.timeLimit(.minutes(3)))
    func aDenialNamesNoConsent() async throws {
        try await FHIRFixture.with { fixture in try await fixture.application.test(.router) { client in
            let fhir = try #require(fixture.services.fhir)
            let doctor = FHIRClient(client: client, bearer: try await token(client, for: fixture.doctor))
            let patientID = try #require(try await doctor.call(.post, "/fhir/Patient", FHIRServerTests.patient).json["id"] as? String)
            let entry = try #require(RecordIndex.current(fixture.recordID(type: "Patient", id: patientID), in: fixture.node.state))
            let patientKeys = try #require(fixture.patientKeys.keys(of: entry.patient))
            // A consent for research only: the clinic doctor's treatment read comes close, and fails.
            let granted = try await fhir.client.commit([UnsignedCall(patientKeys, call: ConsentContract.Grant(
                patient: entry.patient, grantee: .member(fixture.clinicDoctor.derivedID), purposes: [.research], actions: [.read]))])
            let consent = try #require(granted.first).transactionID

            let clinic = FHIRClient(client: client, bearer: try await token(client, for: fixture.clinicDoctor))
            let read = try await clinic.call(.get, "/fhir/Patient/\(patientID)")
            #expect(read.status == .notFound)
            let diagnostics = String(describing: read.json)
            #expect(!diagnostics.contains("purpose") && !diagnostics.contains(consent.hex), "\(diagnostics)")
            let release = try await clinic.call(.get, "/v1/records/\(entry.record.hex)/release")
            #expect(release.status == .notFound)
            #expect(!String(describing: release.json).contains(consent.hex))

            // An update with a stale If-Match by someone who may not write here: 403, not 412 naming the version.
            var changed = FHIRServerTests.patient
            changed["id"] = patientID
            let stale = try await clinic.call(.put, "/fhir/Patient/\(patientID)", changed, headers: [.ifMatch: "W/\"7\""])
            #expect(stale.status == .forbidden, "\(stale.json)")
            #expect(!String(describing: stale.json).contains("version 1"), "\(stale.json)")
            #expect(try await doctor.call(.put, "/fhir/Patient/\(patientID)", changed, headers: [.ifMatch: "W/\"7\""]).status == .preconditionFailed,
                    "the custodian's own staff still get 412")

            let log = try fhir.access.accessLog(patient: entry.patient)
            let denial = try #require(log.last { $0.entry.requester == fixture.clinicDoctor.derivedID })
            #expect(denial.entry.reason == .purposeNotPermitted && denial.entry.consent == consent, "the patient's log keeps the real reason")
        } }
    }

    /// 403 against 404 told whether an id exists: a refused read, vread, history, Provenance,
    /// `$everything`, record description and release now answer exactly as for an id that was
    /// never written (but for the id itself), while the patient's log keeps the refusal.
    @Test(.timeLimit(.minutes(3)))
    func aRefusedRecordLooksLikeAMissingOne() async throws {
        try await FHIRFixture.with { fixture in try await fixture.application.test(.router) { client in
            let fhir = try #require(fixture.services.fhir)
            let doctor = FHIRClient(client: client, bearer: try await token(client, for: fixture.doctor))
            let patientID = try #require(try await doctor.call(.post, "/fhir/Patient", FHIRServerTests.patient).json["id"] as? String)
            let record = fixture.recordID(type: "Patient", id: patientID)
            let missingID = "never-written-\(patientID.prefix(8))"
            let missing = fixture.recordID(type: "Patient", id: missingID)
            let clinic = FHIRClient(client: client, bearer: try await token(client, for: fixture.clinicDoctor))
            func answer(_ path: String) async throws -> (Int, String) {
                let response = try await clinic.call(.get, path)
                let canonical = String(decoding: try JSONSerialization.data(withJSONObject: response.json, options: [.sortedKeys]), as: UTF8.self)
                let text = canonical.replacingOccurrences(of: patientID, with: "ID").replacingOccurrences(of: missingID, with: "ID")
                    .replacingOccurrences(of: record.hex, with: "RECORD").replacingOccurrences(of: missing.hex, with: "RECORD")
                return (Int(response.status.code), text)
            }
            for (existing, absent) in [("/fhir/Patient/\(patientID)", "/fhir/Patient/\(missingID)"),
                                       ("/fhir/Patient/\(patientID)/_history/1", "/fhir/Patient/\(missingID)/_history/1"),
                                       ("/fhir/Patient/\(patientID)/_history", "/fhir/Patient/\(missingID)/_history"),
                                       ("/fhir/Provenance?target=Patient/\(patientID)", "/fhir/Provenance?target=Patient/\(missingID)"),
                                       ("/fhir/Patient/\(patientID)/$everything", "/fhir/Patient/\(missingID)/$everything"),
                                       ("/fhir/AuditEvent?patient=\(patientID)", "/fhir/AuditEvent?patient=\(missingID)"),
                                       ("/v1/records/\(record.hex)", "/v1/records/\(missing.hex)"),
                                       ("/v1/records/\(record.hex)/release", "/v1/records/\(missing.hex)/release")] {
                let (refused, unknown) = (try await answer(existing), try await answer(absent))
                #expect(refused.0 == 404 && refused == unknown, "\(existing): \(refused) vs \(unknown)")
            }
            // The patient's log has the refusals with their real reason.
            let patient = try #require(RecordIndex.current(record, in: fixture.node.state)).patient
            let refusals = try fhir.access.accessLog(patient: patient).filter { $0.entry.requester == fixture.clinicDoctor.derivedID }
            #expect(refusals.count >= 5 && refusals.allSatisfy { $0.entry.outcome == .deny && $0.entry.reason == .noConsent }, "\(refusals)")
            // An erased record: 410 to whom could read it (the custodian's clinician), "not known" to anyone else.
            let observation = try #require(try await doctor.call(.post, "/fhir/Observation",
                                                                 FHIRServerTests.observation(patientID, code: "4548-4", date: "2024-05-01")).json["id"] as? String)
            let hospital = FHIRClient(client: client, bearer: try await token(client, for: fixture.hospital))
            #expect(try await hospital.call(.delete, "/fhir/Observation/\(observation)").status == .ok)
            #expect(try await doctor.call(.get, "/fhir/Observation/\(observation)").status == .gone)
            #expect(try await doctor.call(.get, "/fhir/Observation/\(missingID)").status == .notFound)
            let erased = try await answer("/fhir/Observation/\(observation)")
            let never = try await answer("/fhir/Observation/\(missingID)")
            #expect(erased.0 == 404 && erased.1.replacingOccurrences(of: observation, with: "ID") == never.1, "\(erased) vs \(never)")
        } }
    }
    /// "Too costly" fired on the index's candidates before any consent decision: a requester who
    /// may read none of them learned that many records match (say, a rare code). Now the limit
    /// counts the matches the requester may read; only past the much larger index bound (here 5)
    /// is a search refused before deciding.
    @Test(.timeLimit(.minutes(3)))
    func tooCostlyCountsOnlyWhatTheRequesterMayRead() async throws {
        try await FHIRFixture.with(searchLimits: SearchLimits(matchesMax: 2, indexCandidatesMax: 5)) { fixture in
            try await fixture.application.test(.router) { client in
                let doctor = FHIRClient(client: client, bearer: try await token(client, for: fixture.doctor))
                let clinic = FHIRClient(client: client, bearer: try await token(client, for: fixture.clinicDoctor))
                let patientID = try #require(try await doctor.call(.post, "/fhir/Patient", FHIRServerTests.patient).json["id"] as? String)
                for day in 1...4 {
                    #expect(try await doctor.call(.post, "/fhir/Observation", FHIRServerTests.observation(patientID, code: "5-5", date: "2024-05-0\(day)")).status == .created)
                }
                let strangers = try await clinic.call(.get, "/fhir/Observation?code=5-5")
                #expect(strangers.status == .ok && strangers.json["total"] as? Int == 0, "4 matches, none readable: \(strangers.json)")
                let readable = try await doctor.call(.get, "/fhir/Observation?code=5-5")
                #expect(readable.status == .badRequest && issueCode(readable.json) == "too-costly", "\(readable.json)")
                #expect(try await doctor.call(.get, "/fhir/Observation?code=5-5&date=le2024-05-02").json["total"] as? Int == 2)
                for day in 5...6 {
                    #expect(try await doctor.call(.post, "/fhir/Observation", FHIRServerTests.observation(patientID, code: "5-5", date: "2024-05-0\(day)")).status == .created)
                }
                #expect(issueCode(try await clinic.call(.get, "/fhir/Observation?code=5-5").json) == "too-costly", "past the index bound, before deciding")
            }
        }
    }
}
