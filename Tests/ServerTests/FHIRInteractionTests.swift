import Foundation
import HTTPTypes
import HummingbirdTesting
import Testing

/// Issue 15, item 5: the interactions R4 defines that the server answered 404 or ignored —
/// conditional update and delete, If-None-Match, Prefer, history paging and `_total` — each with
/// the consent rules: a condition is a search run as the requester.
@Suite("FHIR R4 interactions: conditional update and delete, Prefer, If-None-Match, history paging, _total", .serialized)
struct FHIRInteractionTests {
    typealias S = FHIRServerTests

    static func patient(_ mrn: String, family: String = "Okafor") -> [String: Any] {
        ["resourceType": "Patient", "name": [["family": family]], "identifier": [["system": "urn:test:mrn", "value": mrn]]]
    }

    @Test(.timeLimit(.minutes(3)))
    func conditionalUpdateCreatesUpdatesOrRefuses() async throws {
        try await FHIRFixture.with { fixture in try await fixture.application.test(.router) { client in
            let doctor = FHIRClient(client: client, bearer: try await token(client, for: fixture.doctor))
            // No match, no id: created.
            let created = try await doctor.call(.put, "/fhir/Patient?identifier=urn:test:mrn|MRN-1", Self.patient("MRN-1"))
            #expect(created.status == .created, "\(created.json)")
            let id = try #require(created.json["id"] as? String)
            // One match: that resource is updated, whatever id (or none) the body has.
            let updated = try await doctor.call(.put, "/fhir/Patient?identifier=urn:test:mrn|MRN-1", Self.patient("MRN-1", family: "Okafor-Reyes"))
            #expect(updated.status == .ok && updated.json["id"] as? String == id, "\(updated.json)")
            #expect((updated.json["meta"] as? [String: Any])?["versionId"] as? String == "2")
            // A body id other than the match's: 400, nothing written.
            var other = Self.patient("MRN-1")
            other["id"] = "someone-else"
            #expect(try await doctor.call(.put, "/fhir/Patient?identifier=urn:test:mrn|MRN-1", other).status == .badRequest)
            // If-Match applies to the matched resource.
            let stale = try await doctor.call(.put, "/fhir/Patient?identifier=urn:test:mrn|MRN-1", Self.patient("MRN-1"), headers: [.ifMatch: "W/\"1\""])
            #expect(stale.status == .preconditionFailed, "\(stale.json)")
            // Two matches: 412; no criteria: 400.
            _ = try await doctor.call(.post, "/fhir/Patient", Self.patient("MRN-2", family: "Twin"))
            _ = try await doctor.call(.post, "/fhir/Patient", Self.patient("MRN-3", family: "Twin"))
            #expect(try await doctor.call(.put, "/fhir/Patient?family=Twin", Self.patient("MRN-9")).status == .preconditionFailed)
            #expect(try await doctor.call(.put, "/fhir/Patient", Self.patient("MRN-9")).status == .badRequest)
            #expect(try await doctor.call(.get, "/fhir/Patient/\(id)").json["meta"].flatMap { ($0 as? [String: Any])?["versionId"] as? String } == "2")

            // The clinic's clinician may not read the hospital's Patient: for them the condition
            // matches nothing. Their conditional update would create a resource of their own (this
            // node holds no clinic key, so it refuses to write for them), and their conditional
            // delete finds nothing to delete; neither touches or reveals the hospital's Patient.
            let clinic = FHIRClient(client: client, bearer: try await token(client, for: fixture.clinicDoctor))
            let theirs = try await clinic.call(.put, "/fhir/Patient?identifier=urn:test:mrn|MRN-1", Self.patient("MRN-1"))
            #expect(theirs.status == .forbidden && "\(theirs.json)".contains("writes only for the organizations"), "\(theirs.status) \(theirs.json)")
            let notTheirs = try await clinic.call(.delete, "/fhir/Patient?identifier=urn:test:mrn|MRN-1")
            #expect(notTheirs.status == .ok && "\(notTheirs.json)".contains("nothing was deleted"), "\(notTheirs.json)")
            #expect(try await doctor.call(.get, "/fhir/Patient/\(id)").json["meta"].flatMap { ($0 as? [String: Any])?["versionId"] as? String } == "2")
        } }
    }

    @Test(.timeLimit(.minutes(3)))
    func conditionalDeleteOneMatchOnly() async throws {
        try await FHIRFixture.with { fixture in try await fixture.application.test(.router) { client in
            let hospital = FHIRClient(client: client, bearer: try await token(client, for: fixture.hospital))
            let first = try #require(try await hospital.call(.post, "/fhir/Patient", Self.patient("MRN-5")).json["id"] as? String)
            _ = try await hospital.call(.post, "/fhir/Patient", Self.patient("MRN-6", family: "Pair"))
            _ = try await hospital.call(.post, "/fhir/Patient", Self.patient("MRN-7", family: "Pair"))
            // Several matches: 412 and nothing deleted (conditionalDelete: single).
            #expect(try await hospital.call(.delete, "/fhir/Patient?family=Pair").status == .preconditionFailed)
            #expect(try await hospital.call(.get, "/fhir/Patient?family=Pair&_summary=count").json["total"] as? Int == 2)
            // None: 200 and an OperationOutcome that says so.
            let none = try await hospital.call(.delete, "/fhir/Patient?identifier=urn:test:mrn|NOPE")
            #expect(none.status == .ok && none.json["resourceType"] as? String == "OperationOutcome")
            // One: erased.
            let deleted = try await hospital.call(.delete, "/fhir/Patient?identifier=urn:test:mrn|MRN-5")
            #expect(deleted.status == .ok, "\(deleted.json)")
            #expect(try await hospital.call(.get, "/fhir/Patient/\(first)").status == .gone)
            #expect(try await hospital.call(.delete, "/fhir/Patient").status == .badRequest, "a condition without criteria")
        } }
    }

    @Test(.timeLimit(.minutes(3)))
    func preferIfNoneMatchHistoryPagingAndTotal() async throws {
        try await FHIRFixture.with { fixture in try await fixture.application.test(.router) { client in
            let doctor = FHIRClient(client: client, bearer: try await token(client, for: fixture.doctor))
            // Prefer: return=minimal — headers only; return=OperationOutcome — an outcome.
            let minimal = try await doctor.call(.post, "/fhir/Patient", Self.patient("MRN-10"), headers: [HTTPField.Name("Prefer")!: "return=minimal"])
            #expect(minimal.status == .created && minimal.json.isEmpty && minimal.headers[.location] != nil && minimal.headers[.eTag] == "W/\"1\"")
            let id = try #require(minimal.headers[.location]?.split(separator: "/").dropLast(2).last.map(String.init))
            var next = Self.patient("MRN-10", family: "Second")
            next["id"] = id
            let outcome = try await doctor.call(.put, "/fhir/Patient/\(id)", next, headers: [HTTPField.Name("Prefer")!: "return=OperationOutcome"])
            #expect(outcome.status == .ok && outcome.json["resourceType"] as? String == "OperationOutcome", "\(outcome.json)")
            // If-None-Match on a read: 304 for the current version, 200 otherwise.
            #expect(try await doctor.call(.get, "/fhir/Patient/\(id)", headers: [.ifNoneMatch: "W/\"2\""]).status == .notModified)
            #expect(try await doctor.call(.get, "/fhir/Patient/\(id)", headers: [.ifNoneMatch: "W/\"1\""]).status == .ok)
            // If-None-Match: * on a write: only when nothing is there yet.
            next["name"] = [["family": "Third"]]
            #expect(try await doctor.call(.put, "/fhir/Patient/\(id)", next, headers: [.ifNoneMatch: "*"]).status == .preconditionFailed)
            var fresh = Self.patient("MRN-11")
            fresh["id"] = "fresh-1"
            #expect(try await doctor.call(.put, "/fhir/Patient/fresh-1", fresh, headers: [.ifNoneMatch: "*"]).status == .created)
            next["name"] = [["family": "Third"]]
            _ = try await doctor.call(.put, "/fhir/Patient/\(id)", next)

            // History: three versions, paged one at a time, newest first; _since keeps the later ones.
            let page = try await doctor.call(.get, "/fhir/Patient/\(id)/_history?_count=1")
            #expect(page.json["total"] as? Int == 3 && (page.json["entry"] as? [[String: Any]])?.count == 1)
            let links = (page.json["link"] as? [[String: Any]]) ?? []
            let nextURL = try #require(links.first { $0["relation"] as? String == "next" }?["url"] as? String)
            let nextPath = String(nextURL[try #require(nextURL.range(of: "/fhir/")).lowerBound...])
            let second = try await doctor.call(.get, nextPath)
            let secondVersion = ((((second.json["entry"] as? [[String: Any]])?.first?["resource"] as? [String: Any])?["meta"]) as? [String: Any])?["versionId"]
            #expect(secondVersion as? String == "2", "\(second.json)")
            #expect(try await doctor.call(.get, "/fhir/Patient/\(id)/_history?_since=2999-01-01T00:00:00Z").json["total"] as? Int == 0)
            #expect(try await doctor.call(.get, "/fhir/Patient/\(id)/_history?_since=2000-01-01T00:00:00.5Z").json["total"] as? Int == 3)
            #expect(try await doctor.call(.get, "/fhir/Patient/\(id)/_history?_since=2000").status == .badRequest, "a date is not an instant")
            #expect(try await doctor.call(.get, "/fhir/Patient/\(id)/_history?family=x").status == .badRequest)
            let typeHistory = try await doctor.call(.get, "/fhir/Patient/_history?_count=2")
            #expect(typeHistory.json["total"] as? Int == 4 && (typeHistory.json["entry"] as? [[String: Any]])?.count == 2, "\(typeHistory.json)")

            // _total=none leaves the total out; a bad mode is a 400.
            let noTotal = try await doctor.call(.get, "/fhir/Patient?_total=none")
            #expect(noTotal.status == .ok && noTotal.json["total"] == nil && (noTotal.json["entry"] as? [[String: Any]])?.isEmpty == false)
            #expect(try await doctor.call(.get, "/fhir/Patient?_total=accurate").json["total"] as? Int == 2)
            #expect(try await doctor.call(.get, "/fhir/Patient?_total=some").status == .badRequest)
        } }
    }

    @Test(.timeLimit(.minutes(3)))
    func revincludeAndHasFollowPatientReferencesOnlyWhereConsentAllows() async throws {
        try await FHIRFixture.with { fixture in try await fixture.application.test(.router) { client in
            let doctor = FHIRClient(client: client, bearer: try await token(client, for: fixture.doctor))
            let ada = try #require(try await doctor.call(.post, "/fhir/Patient", Self.patient("MRN-A", family: "Ada")).json["id"] as? String)
            let bo = try #require(try await doctor.call(.post, "/fhir/Patient", Self.patient("MRN-B", family: "Bo")).json["id"] as? String)
            for (patient, code) in [(ada, "1234-5"), (ada, "9999-9"), (bo, "9999-9")] {
                #expect(try await doctor.call(.post, "/fhir/Observation", S.observation(patient, code: code, date: "2024-02-10")).status == .created)
            }
            func ids(_ bundle: [String: Any], mode: String) -> [String] {
                ((bundle["entry"] as? [[String: Any]]) ?? []).filter { ($0["search"] as? [String: Any])?["mode"] as? String == mode }
                    .compactMap { ($0["resource"] as? [String: Any]).map { "\($0["resourceType"] ?? "")/\($0["id"] ?? "")" } }.sorted()
            }
            // _has: Patients some readable Observation with that code is about.
            let has = try await doctor.call(.get, "/fhir/Patient?_has:Observation:patient:code=1234-5")
            #expect(ids(has.json, mode: "match") == ["Patient/\(ada)"], "\(has.json)")
            #expect(ids(try await doctor.call(.get, "/fhir/Patient?_has:Observation:subject:code=9999-9").json, mode: "match").count == 2)
            // _revinclude: each matched Patient's Observations, as includes.
            let rev = try await doctor.call(.get, "/fhir/Patient?_id=\(ada)&_revinclude=Observation:patient")
            #expect(ids(rev.json, mode: "match") == ["Patient/\(ada)"] && ids(rev.json, mode: "include").count == 2, "\(rev.json)")
            // :iterate reaches the Patient an _include brought in (one level).
            let iterate = try await doctor.call(.get, "/fhir/Observation?code=1234-5&_include=Observation:patient&_revinclude:iterate=Observation:patient")
            let included = ids(iterate.json, mode: "include")
            #expect(included.count == 2 && included.contains("Patient/\(ada)"), "\(iterate.json)")
            // Outside Patient, or deeper than one level: reported (lenient) or refused (strict).
            #expect(try await doctor.call(.get, "/fhir/Observation?_has:Observation:patient:code=1", headers: [HTTPField.Name("Prefer")!: "handling=strict"]).status
                    == .badRequest)
            #expect(try await doctor.call(.get, "/fhir/Patient?_has:Observation:patient:_has:Observation:patient:code=1",
                                          headers: [HTTPField.Name("Prefer")!: "handling=strict"]).status == .badRequest)
            #expect(try await doctor.call(.get, "/fhir/Patient?_revinclude=Observation:code", headers: [HTTPField.Name("Prefer")!: "handling=strict"]).status
                    == .badRequest)

            // The clinic's clinician reads none of these: _has finds no Patient and _revinclude adds
            // nothing, so neither tells that the Observations exist.
            let clinic = FHIRClient(client: client, bearer: try await token(client, for: fixture.clinicDoctor))
            #expect(try await clinic.call(.get, "/fhir/Patient?_has:Observation:patient:code=1234-5").json["total"] as? Int == 0)
            let theirs = try await clinic.call(.get, "/fhir/Patient?_revinclude=Observation:patient")
            #expect(ids(theirs.json, mode: "include").isEmpty && ids(theirs.json, mode: "match").isEmpty, "\(theirs.json)")
        } }
    }

    @Test func theCapabilityStatementSaysWhatWorks() async throws {
        try await FHIRFixture.with { fixture in try await fixture.application.test(.router) { client in
            let anyone = FHIRClient(client: client, bearer: nil)
            let statement = try await anyone.call(.get, "/fhir/metadata").json
            let resources = (((statement["rest"] as? [[String: Any]])?.first)?["resource"] as? [[String: Any]]) ?? []
            let patient = try #require(resources.first { $0["type"] as? String == "Patient" })
            #expect(patient["conditionalUpdate"] as? Bool == true && patient["conditionalDelete"] as? String == "single")
            #expect(patient["conditionalRead"] as? String == "not-match")
            #expect((patient["interaction"] as? [[String: Any]])?.contains { $0["code"] as? String == "history-type" } == true)
            #expect((patient["searchRevInclude"] as? [String])?.contains("Observation:subject") == true)
        } }
    }
}
