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

/// `_sort`, modifiers, chains, `_elements` and `_summary` over HTTP, with consent.
@Suite("FHIR search features: _sort, modifiers, chains, _elements, _summary", .serialized)
struct FHIRSearchFeatureTests {
    static let strict: HTTPFields = [HTTPField.Name("Prefer")!: "handling=strict"]

    /// A Patient with a family name, a given name, a birth date and an identifier value.
    static func patient(_ family: String, _ given: String, born: String, mrn: String) -> [String: Any] {
        ["resourceType": "Patient", "name": [["family": family, "given": [given]]], "birthDate": born, "gender": "female",
         "identifier": [["system": "urn:x", "value": mrn]]]
    }

    /// An Observation of a patient; `date` nil leaves the effective time out.
    static func observation(_ patient: String, code: String, date: String?) -> [String: Any] {
        var out: [String: Any] = ["resourceType": "Observation", "status": "final", "subject": ["reference": "Patient/\(patient)"],
                                  "code": ["coding": [["system": "http://loinc.org", "code": code]]], "valueQuantity": ["value": 7, "unit": "%"],
                                  "note": [["text": "remark"]]]
        if let date { out["effectiveDateTime"] = date }
        return out
    }

    @Test(.timeLimit(.minutes(3)))
    func sortModifiersChainsElementsAndSummary() async throws {
        try await FHIRFixture.with { fixture in try await fixture.application.test(.router) { client in
            let doctor = FHIRClient(client: client, bearer: try await token(client, for: fixture.doctor))
            func create(_ resource: [String: Any]) async throws -> String { try await doctor.create(resource) }
            let smith = try await create(Self.patient("Smith", "Jo", born: "1982-03-04", mrn: "123"))
            let smithson = try await create(Self.patient("Smithson", "Al", born: "1975-05-06", mrn: "456"))
            let okafor = try await create(Self.patient("Okafor", "Ada", born: "1990-01-01", mrn: "789"))
            var observations: [String: String] = [:]
            for (key, patient, code, date) in [("s1", smith, "4548-4", "2024-03-01"), ("s2", smith, "2345-7", "2023-01-01"),
                                               ("t1", smithson, "4548-4", "2024-01-15"), ("o1", okafor, "2345-7", "2022-06-30"),
                                               ("o2", okafor, "4548-4", nil)] {
                observations[key] = try await create(Self.observation(patient, code: code, date: date))
            }
            _ = try await create(["resourceType": "Encounter", "status": "finished", "subject": ["reference": "Patient/\(smith)"],
                                  "class": ["code": "AMB"], "period": ["start": "2024-02-02"]])
            _ = try await create(["resourceType": "Encounter", "status": "finished", "subject": ["reference": "Patient/\(smithson)"],
                                  "class": ["code": "AMB"], "period": ["start": "2024-02-03"]])

            func ids(_ query: String, headers: HTTPFields = [:]) async throws -> [String] {
                let answer = try await doctor.call(.get, "/fhir/\(query)", headers: headers)
                #expect(answer.status == .ok, "\(query): \(answer.json)")
                return (answer.json["entry"] as? [[String: Any]] ?? []).filter { ($0["search"] as? [String: Any])?["mode"] as? String == "match" }
                    .compactMap { ($0["resource"] as? [String: Any])?["id"] as? String }
            }
            func total(_ query: String) async throws -> Int? {
                let answer = try await doctor.call(.get, "/fhir/\(query)", headers: Self.strict)
                #expect(answer.status == .ok, "\(query): \(answer.json)")
                return answer.json["total"] as? Int
            }
            let o = observations

            // 1. _sort: dates ascending / descending (missing last), _id, multiple keys, paging over the sorted set.
            #expect(try await ids("Observation?_sort=date", headers: Self.strict) == [o["o1"]!, o["s2"]!, o["t1"]!, o["s1"]!, o["o2"]!])
            #expect(try await ids("Observation?_sort=-date", headers: Self.strict) == [o["s1"]!, o["t1"]!, o["s2"]!, o["o1"]!, o["o2"]!])
            #expect(try await ids("Observation?_sort=_id", headers: Self.strict) == o.values.sorted())
            #expect(try await ids("Patient?_sort=birthdate", headers: Self.strict) == [smithson, smith, okafor])
            #expect(try await ids("Observation?code=4548-4&_sort=-date,_id", headers: Self.strict) == [o["s1"]!, o["t1"]!, o["o2"]!])
            var paged: [String] = []
            for offset in stride(from: 0, to: 5, by: 2) { paged += try await ids("Observation?_sort=date&_count=2&_offset=\(offset)") }
            #expect(paged == [o["o1"]!, o["s2"]!, o["t1"]!, o["s1"]!, o["o2"]!], "pages of a sorted search are disjoint and in order")
            let next = try await doctor.call(.get, "/fhir/Observation?_sort=-date&_count=2")
            let nextURL = ((next.json["link"] as? [[String: Any]]) ?? []).first { $0["relation"] as? String == "next" }?["url"] as? String
            #expect(nextURL?.contains("_sort=-date") == true, "next keeps the sort")

            // Sorting by a blind-indexed name: 400 in strict mode (with the reason), ignored and reported otherwise.
            let byName = try await doctor.call(.get, "/fhir/Patient?_sort=name", headers: Self.strict)
            #expect(byName.status == .badRequest)
            #expect(issueCode(byName.json) == "invalid")
            #expect(((byName.json["issue"] as? [[String: Any]])?.first?["diagnostics"] as? String)?.contains("keyed hashes") == true)
            let lenientName = try await doctor.call(.get, "/fhir/Patient?_sort=name")
            #expect(lenientName.json["total"] as? Int == 3)
            #expect((lenientName.json["entry"] as? [[String: Any]] ?? []).contains {
                ($0["search"] as? [String: Any])?["mode"] as? String == "outcome"
                    && ((($0["resource"] as? [String: Any])?["issue"] as? [[String: Any]])?.first?["diagnostics"] as? String)?.contains("_sort=name") == true
            })

            // 2. Modifiers (table): query → total.
            let table: [(String, Int)] = [
                ("Observation?date:missing=true", 1), ("Observation?date:missing=false", 4),
                ("Observation?code:not=4548-4", 2), ("Observation?code:not=4548-4,2345-7", 0),
                ("Observation?code:not=http://loinc.org%7C2345-7&date:missing=false", 2),
                // :exact is the whole value as written (issue 17); :contains a part anywhere, folded.
                ("Patient?name=smith", 2), ("Patient?name:exact=Smith", 1), ("Patient?name:exact=smith", 0), ("Patient?family:exact=SMITH", 0),
                ("Patient?family:exact=Smi", 0), ("Patient?given:exact=Ada", 1), ("Patient?given:exact=ada", 0), ("Patient?name:exact=Smithson", 1),
                ("Patient?family:contains=MITH", 2), ("Patient?family:contains=ithso", 1), ("Patient?name:contains=kaf", 1),
                ("Patient?family=jo", 0), ("Patient?given=jo", 1), ("Patient?given=j", 0),
                ("Patient?name:missing=false", 3), ("Patient?name:missing=true", 0), ("Patient?telecom:missing=true", 3),
                ("Patient?birthdate:missing=false&gender:not=male", 3), ("Observation?patient:missing=false", 5),
                ("Patient?identifier=urn:x%7C456", 1), ("Patient?identifier=urn:other%7C456", 0), ("Patient?identifier=%7C456", 0), ("Patient?identifier=urn:x%7C", 3),
                ("Patient?identifier=456", 1),
            ]
            for (query, expected) in table { #expect(try await total(query) == expected, "\(query)") }
            // :contains works on trigrams: a shorter value is refused, not answered with nothing.
            #expect(try await doctor.call(.get, "/fhir/Patient?family:contains=jo").status == .badRequest)
            for query in ["Observation?code:identifier=x", "Observation?date:not=2024", "Patient?gender:exact=female"] {
                let refused = try await doctor.call(.get, "/fhir/\(query)", headers: Self.strict)
                #expect(refused.status == .badRequest, "\(query)")
                #expect(refused.json["resourceType"] as? String == "OperationOutcome")
                let lenient = try await doctor.call(.get, "/fhir/\(query)")
                #expect(lenient.status == .ok)
                #expect((lenient.json["entry"] as? [[String: Any]] ?? []).contains { ($0["search"] as? [String: Any])?["mode"] as? String == "outcome" })
            }
            #expect(try await doctor.call(.get, "/fhir/Observation?date:missing=yes").status == .badRequest)

            // 3. Chains, one level, through the requester's consent decisions.
            let chains: [(String, Int)] = [
                ("Observation?subject:Patient.name=smith", 3), ("Observation?subject.name:exact=Smith", 2),
                ("Observation?patient.identifier=urn:x%7C123", 2), ("Observation?patient.identifier=999", 0),
                ("Encounter?subject.birthdate=ge1980", 1), ("Encounter?subject.birthdate=lt1980", 1),
                ("Observation?subject.birthdate=ge1980&code=4548-4", 2), ("Observation?subject.gender=female&date:missing=true", 1),
            ]
            for (query, expected) in chains { #expect(try await total(query) == expected, "\(query)") }
            #expect(try await doctor.call(.get, "/fhir/Observation?subject.organization.name=x", headers: Self.strict).status == .badRequest)

            // The clinic doctor may read Smith's Observations (consent) but not Smith's Patient record:
            // a chain through the name must not find them, the plain reference does.
            let smithRecord = try #require(RecordIndex.current(fixture.recordID(type: "Patient", id: smith), in: fixture.node.state))
            let smithKeys = try #require(fixture.patientKeys.keys(of: smithRecord.patient))
            let smithClient = FHIRClient(client: client, bearer: try await token(client, for: smithKeys))
            let grant: [String: Any] = [
                "resourceType": "Consent", "status": "active",
                "scope": ["coding": [["system": "http://terminology.hl7.org/CodeSystem/consentscope", "code": "patient-privacy"]]],
                "category": [["coding": [["system": "http://loinc.org", "code": "59284-0"]]]],
                "patient": ["reference": "Patient/\(smith)"],
                "provision": ["type": "permit",
                              "actor": [["role": ["coding": [["system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType", "code": "IRCP"]]],
                                         "reference": ["identifier": ["system": "urn:careledger:identity", "value": fixture.clinicDoctor.derivedID.hex]]]],
                              "purpose": [["system": "http://terminology.hl7.org/CodeSystem/v3-ActReason", "code": "TREAT"]],
                              "class": [["system": "http://hl7.org/fhir/resource-types", "code": "Observation"]]],
            ]
            #expect(try await smithClient.call(.post, "/fhir/Consent", grant).status == .created)
            let clinic = FHIRClient(client: client, bearer: try await token(client, for: fixture.clinicDoctor))
            #expect(try await clinic.call(.get, "/fhir/Observation?patient=\(smith)").json["total"] as? Int == 2)
            #expect(try await clinic.call(.get, "/fhir/Observation?subject.name=smith").json["total"] as? Int == 0)
            #expect(try await clinic.call(.get, "/fhir/Observation?patient.identifier=123").json["total"] as? Int == 0)
            #expect(try await clinic.call(.get, "/fhir/Observation?_sort=date").json["total"] as? Int == 2)

            // 4. _elements and _summary shape the matches after decryption, tagged SUBSETTED.
            let elements = try await doctor.call(.get, "/fhir/Observation?_elements=status,value&_sort=date&_count=1", headers: Self.strict)
            let first = try #require((elements.json["entry"] as? [[String: Any]])?.first?["resource"] as? [String: Any])
            #expect(Set(first.keys) == ["resourceType", "id", "meta", "status", "valueQuantity"])
            #expect(((first["meta"] as? [String: Any])?["tag"] as? [[String: Any]])?.contains { $0["code"] as? String == "SUBSETTED" } == true)
            #expect(first["id"] as? String == o["o1"])
            let summary = try await doctor.call(.get, "/fhir/Patient?_summary=true&_id=\(smith)", headers: Self.strict)
            let summarized = try #require((summary.json["entry"] as? [[String: Any]])?.first?["resource"] as? [String: Any])
            #expect(summarized["name"] != nil && summarized["birthDate"] != nil && summarized["identifier"] != nil)
            let fullObservation = try await doctor.call(.get, "/fhir/Observation?_summary=true&_id=\(o["s1"]!)", headers: Self.strict)
            let observationSummary = try #require((fullObservation.json["entry"] as? [[String: Any]])?.first?["resource"] as? [String: Any])
            #expect(observationSummary["note"] == nil && observationSummary["code"] != nil && observationSummary["effectiveDateTime"] != nil)
            #expect(((observationSummary["meta"] as? [String: Any])?["tag"] as? [[String: Any]])?.first?["code"] as? String == "SUBSETTED")
            let whole = try await doctor.call(.get, "/fhir/Observation?_id=\(o["s1"]!)")
            #expect(((whole.json["entry"] as? [[String: Any]])?.first?["resource"] as? [String: Any])?["note"] != nil, "without _elements nothing is cut")

            // 5. The CapabilityStatement documents modifiers and chains.
            let metadata = try await FHIRClient(client: client, bearer: nil).call(.get, "/fhir/metadata")
            let resources = ((metadata.json["rest"] as? [[String: Any]])?.first?["resource"] as? [[String: Any]]) ?? []
            let observationParams = resources.first { $0["type"] as? String == "Observation" }?["searchParam"] as? [[String: Any]] ?? []
            let docs = Dictionary(uniqueKeysWithValues: observationParams.map { ($0["name"] as? String ?? "", $0["documentation"] as? String ?? "") })
            #expect(docs["code"]?.contains(":not") == true)
            #expect(docs["subject"]?.contains("Chains one level") == true)
        } }
    }
}
