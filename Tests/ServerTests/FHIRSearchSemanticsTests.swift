import HTTPTypes
import HummingbirdTesting
import Testing

/// Issue 17: search means exactly what R4 §3.1.1 says, over HTTP, one table per parameter type
/// (date, dateTime, instant, Period, Timing, string, token, reference, quantity, number, uri,
/// composite), on data made for it: partial dates, time zones, open-ended periods, accents and
/// case, identifiers with and without systems and types. The expected matches are written out
/// from the specification's rules. Every searchset is valid R4 (`fhir-validate`, when present).
@Suite("FHIR search semantics, as R4 says", .serialized)
struct FHIRSearchSemanticsTests {
    static let strict: HTTPFields = [HTTPField.Name("Prefer")!: "handling=strict"]
    static let v2 = "http://terminology.hl7.org/CodeSystem/v2-0203"
    static let loinc = "http://loinc.org"
    static let ucum = "http://unitsofmeasure.org"

    /// The data and every table, run as the hospital's clinician; returns the searchsets.
    static func run(_ fixture: FHIRFixture, _ client: any TestClientProtocol) async throws -> [[String: Any]] {
        let doctor = FHIRClient(client: client, bearer: try await token(client, for: fixture.doctor))
        var names: [String: String] = [:]
        func create(_ key: String, _ resource: [String: Any]) async throws -> String {
            let id = try await doctor.create(resource)
            names[id] = key
            return id
        }
        let pA = try await create("pA", ["resourceType": "Patient", "name": [["family": "Müller", "given": ["Anna"]]], "birthDate": "1990",
                                         "gender": "female", "address": [["city": "Springfield"]],
                                         "identifier": [["system": "urn:mrn", "value": "A-100", "type": ["coding": [["system": v2, "code": "MR"]]]]]])
        _ = try await create("pB", ["resourceType": "Patient", "name": [["family": "Mullerova", "given": ["Ben"]]], "birthDate": "1990-06",
                                    "gender": "male", "identifier": [["system": "urn:mrn", "value": "B-200"]]])
        _ = try await create("pC", ["resourceType": "Patient", "name": [["family": "Okafor", "given": ["Chi"]]], "birthDate": "1990-06-20",
                                    "gender": "female", "identifier": [["system": "urn:ssn", "value": "A-100", "type": ["coding": [["system": v2, "code": "SS"]]]]]])
        _ = try await create("pD", ["resourceType": "Patient", "name": [["family": "MÜLLER", "given": ["Dora"]]], "birthDate": "1985-03-04",
                                    "identifier": [["value": "D-400"]]])
        func observation(_ code: [String: Any], _ effective: (String, Any), _ value: Double, _ unit: String, _ extra: [String: Any] = [:]) -> [String: Any] {
            var out: [String: Any] = ["resourceType": "Observation", "status": "final", "subject": ["reference": "Patient/\(pA)"], "code": code,
                                      effective.0: effective.1, "valueQuantity": ["value": value, "system": ucum, "code": unit, "unit": unit]]
            out.merge(extra) { $1 }
            return out
        }
        _ = try await create("o1", observation(["coding": [["system": loinc, "code": "8480-6", "display": "Systolic blood pressure"]]],
                                               ("effectiveDateTime", "2021-03-04T23:30:00-05:00"), 130, "mm[Hg]",
                                               ["performer": [["reference": "Practitioner/prac-1"]], "meta": ["source": "http://example.org/fhir/devices/bp-7"]]))
        _ = try await create("o2", observation(["coding": [["system": loinc, "code": "8462-4", "display": "Diastolic blood pressure"]], "text": "Diastolic"],
                                               ("effectivePeriod", ["start": "2020-01-01", "end": "2020-12-31"]), 85, "mm[Hg]",
                                               ["meta": ["source": "http://example.org/fhir/devices"]]))
        _ = try await create("o3", observation(["coding": [["system": "http://snomed.info/sct", "code": "271649006", "display": "Systolic blood pressure"]]],
                                               ("effectiveDateTime", "2021"), 17.3, "kPa",
                                               ["performer": [["identifier": ["system": "urn:npi", "value": "NPI-9"], "display": "Dr X"]]]))
        _ = try await create("o4", observation(["coding": [["system": loinc, "code": "8480-6"]]], ("effectiveInstant", "2021-03-05T04:30:00Z"), 120, "mm[Hg]"))
        let absent = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
        for (key, reason) in [("o5", "asked-declined"), ("o6", "error")] {
            _ = try await create(key, ["resourceType": "Observation", "status": "final", "subject": ["reference": "Patient/\(pA)"],
                                       "code": ["coding": [["system": loinc, "code": "8302-2"]]], "effectiveDateTime": "2019-01-01",
                                       "dataAbsentReason": ["coding": [["system": absent, "code": reason]]]])
        }
        _ = try await create("e1", ["resourceType": "Encounter", "status": "in-progress", "class": ["code": "AMB"], "subject": ["reference": "Patient/\(pA)"],
                                    "period": ["start": "2021-03-04"]])
        _ = try await create("m1", ["resourceType": "MedicationRequest", "status": "active", "intent": "order", "subject": ["reference": "Patient/\(pA)"],
                                    "medicationCodeableConcept": ["text": "aspirin"], "dosageInstruction": [["timing": ["event": ["2022-05-01T08:00:00Z"]]]]])
        for (key, probability) in [("r1", 0.25), ("r2", 0.8)] {
            _ = try await create(key, ["resourceType": "RiskAssessment", "status": "final", "subject": ["reference": "Patient/\(pA)"],
                                       "prediction": [["probabilityDecimal": probability]]])
        }

        var searchsets: [[String: Any]] = []
        func found(_ query: String) async throws -> [String] {
            let answer = try await doctor.call(.get, "/fhir/\(query)", headers: Self.strict)
            #expect(answer.status == .ok, "\(query): \(answer.json)")
            searchsets.append(answer.json)
            return (answer.json["entry"] as? [[String: Any]] ?? []).compactMap { ($0["resource"] as? [String: Any])?["id"] as? String }.map { names[$0] ?? $0 }
        }
        let tables: [(type: String, rows: [(String, Set<String>)])] = [
            ("date (a blind birth date written as a year, a month or a day)", [
                ("Patient?birthdate=gt1990-06-15", ["pA", "pB", "pC"]),      // 1990 and 1990-06 may be later
                ("Patient?birthdate=1990", ["pA", "pB", "pC"]),
                ("Patient?birthdate=1990-06", ["pB", "pC"]),                 // the year 1990 is not inside June
                ("Patient?birthdate=lt1990-06-15", ["pA", "pB", "pD"]),
                ("Patient?birthdate=ne1990", ["pD"]),
                ("Patient?birthdate=sa1989", ["pA", "pB", "pC"]),
                ("Patient?birthdate=eb1990-06-20", ["pD"]),
                ("Patient?birthdate=ap1990-06-20", ["pA", "pB", "pC"]),
            ]),
            ("dateTime (time zones, partial) and instant", [
                ("Observation?date=2021-03-05", ["o1", "o4"]),               // 23:30 at UTC−5 is 04:30 UTC the next day
                ("Observation?date=2021-03-04", []),
                ("Observation?date=2021", ["o1", "o3", "o4"]),
                ("Observation?date=gt2021-03-05T04:00:00Z", ["o1", "o3", "o4"]),
                ("Observation?date=ge2021-03-05T04:30:00Z", ["o1", "o3", "o4"]),
                ("Observation?date=2021-03-05T04:30", ["o1", "o4"]),       // a partial time: that minute
                ("Observation?date=2021-03-04T23:30-05:00", ["o1", "o4"]),
                ("Observation?date=2021-03-05T04", ["o1", "o4"]),          // that hour
                ("Observation?date=2021-03-05T05", []),
                ("Observation?date=lt2021-03-05T04:30:00Z", ["o2", "o3", "o5", "o6"]),   // the year 2021 starts before
                ("Observation?date=eb2021", ["o2", "o5", "o6"]),
                ("Observation?_lastUpdated=gt2000&code=8480-6", ["o1", "o4"]),
                ("Observation?_lastUpdated=lt2000", []),
            ]),
            ("Period (open-ended) and Timing", [
                ("Observation?date=2020", ["o2"]),
                ("Observation?date=lt2020-06", ["o2", "o5", "o6"]),
                ("Encounter?date=gt2030", ["e1"]),                          // no end: open to the future
                ("Encounter?date=2021-03-04", []),                          // an open period is not inside a day
                ("Encounter?date=sa2021-03-01", ["e1"]),
                ("Encounter?date=eb2030", []),
                ("MedicationRequest?date=2022-05-01", ["m1"]),
                ("MedicationRequest?date=2022-06", []),
            ]),
            ("string (blind: prefix, :exact, :contains; each parameter its own)", [
                ("Patient?family=mul", ["pA", "pB", "pD"]),
                ("Patient?family:exact=Müller", ["pA"]),
                ("Patient?family:exact=MÜLLER", ["pD"]),
                ("Patient?family:exact=Muller", []),
                ("Patient?family:contains=LLER", ["pA", "pB", "pD"]),
                ("Patient?family:contains=ero", ["pB"]),
                ("Patient?given=anna", ["pA"]),
                ("Patient?family=anna", []),
                ("Patient?address-city=spring", ["pA"]),
            ]),
            ("token", [
                ("Patient?identifier=urn:mrn%7CA-100", ["pA"]),
                ("Patient?identifier=A-100", ["pA", "pC"]),
                ("Patient?identifier=urn:mrn%7C", ["pA", "pB"]),
                ("Patient?identifier=%7CD-400", ["pD"]),
                ("Patient?identifier=%7CA-100", []),
                ("Patient?identifier:of-type=\(v2)%7CMR%7CA-100", ["pA"]),
                ("Patient?identifier:of-type=\(v2)%7CSS%7CA-100", ["pC"]),
                ("Patient?gender=female", ["pA", "pC"]),
                ("Patient?gender:not=female", ["pB", "pD"]),
                ("Observation?code=\(loinc)%7C8480-6", ["o1", "o4"]),
                ("Observation?code=\(loinc)%7C", ["o1", "o2", "o4", "o5", "o6"]),
                ("Observation?code=%7C8480-6", []),
                ("Observation?code:text=systolic", ["o1", "o3"]),
                ("Observation?code:text=diastolic", ["o2"]),
                ("Observation?code:not=8480-6", ["o2", "o3", "o5", "o6"]),
                ("Observation?data-absent-reason:below=\(absent)%7Cunknown", ["o5"]),      // asked-declined is below unknown
                ("Observation?data-absent-reason:above=\(absent)%7Casked-declined", ["o5"]),
                ("Observation?data-absent-reason:below=\(absent)%7Cerror", ["o6"]),
                ("Observation?data-absent-reason=\(absent)%7Cunknown", []),
            ]),
            ("reference", [
                ("Observation?performer=Practitioner/prac-1", ["o1"]),
                ("Observation?performer=prac-1", ["o1"]),
                ("Observation?performer:identifier=urn:npi%7CNPI-9", ["o3"]),
                ("Observation?subject=Patient/\(pA)&code=8480-6", ["o1", "o4"]),
            ]),
            ("quantity", [
                ("Observation?value-quantity=130", ["o1"]),
                ("Observation?value-quantity=gt100", ["o1", "o4"]),
                ("Observation?value-quantity=lt100%7C\(ucum)%7Cmm[Hg]", ["o2"]),
                ("Observation?value-quantity=ap125", ["o1", "o4"]),
                ("Observation?value-quantity=17.3%7C\(ucum)%7CkPa", ["o3"]),
                ("Observation?value-quantity=ne130", ["o2", "o3", "o4"]),
            ]),
            ("number", [
                ("RiskAssessment?probability=0.25", ["r1"]),
                ("RiskAssessment?probability=0.2", []),
                ("RiskAssessment?probability=gt0.5", ["r2"]),
                ("RiskAssessment?probability=le0.25", ["r1"]),
            ]),
            ("uri", [
                ("Observation?_source=http://example.org/fhir/devices", ["o2"]),
                ("Observation?_source:below=http://example.org/fhir/devices", ["o1", "o2"]),
                ("Observation?_source:above=http://example.org/fhir/devices/bp-7", ["o1", "o2"]),
            ]),
            ("composite", [
                ("Observation?code-value-quantity=\(loinc)%7C8480-6$gt125", ["o1"]),
                ("Observation?code-value-quantity=8480-6$120", ["o4"]),
                ("Observation?combo-code-value-quantity=\(loinc)%7C8462-4$85", ["o2"]),
            ]),
        ]
        for table in tables {
            for (query, expected) in table.rows {
                #expect(Set(try await found(query)) == expected, "\(table.type): \(query)")
            }
        }

        // _sort on a quantity (by number, stable), before paging.
        let sorted = try await found("Observation?_sort=value-quantity")
        #expect(sorted.prefix(4) == ["o3", "o2", "o4", "o1"] && Set(sorted.dropFirst(4)) == ["o5", "o6"], "no value sorts last: \(sorted)")
        #expect(try await found("Observation?_sort=-value-quantity&_count=2") == ["o1", "o4"])
        // _total: none leaves it out; estimate and accurate give it.
        let none = try await doctor.call(.get, "/fhir/Observation?_total=none")
        #expect(none.json["total"] == nil)
        #expect(try await doctor.call(.get, "/fhir/Observation?_total=estimate").json["total"] as? Int == 6)
        // Unknown parameters are reported by default and refused under handling=strict, for any type.
        for type in ["Observation", "RiskAssessment", "Encounter"] {
            let lenient = try await doctor.call(.get, "/fhir/\(type)?colour=red")
            #expect(lenient.status == .ok && (lenient.json["entry"] as? [[String: Any]] ?? []).contains {
                ($0["search"] as? [String: Any])?["mode"] as? String == "outcome" }, "\(type)")
            #expect(try await doctor.call(.get, "/fhir/\(type)?colour=red", headers: Self.strict).status == .badRequest)
        }
        // Consent still applies: the clinic's clinician, without consent, finds none of them.
        let clinic = FHIRClient(client: client, bearer: try await token(client, for: fixture.clinicDoctor))
        for query in ["Observation?value-quantity=gt0", "Patient?family:contains=ull", "Patient?birthdate=gt1900"] {
            let answer = try await clinic.call(.get, "/fhir/\(query)")
            #expect(answer.status == .ok && answer.json["total"] as? Int == 0, "\(query): \(answer.json)")
        }
        return searchsets
    }

    @Test(.timeLimit(.minutes(3)))
    func searchMeansWhatR4Says() async throws {
        try await FHIRFixture.with { fixture in try await fixture.application.test(.router) { client in _ = try await Self.run(fixture, client) } }
    }

    @Test(.timeLimit(.minutes(3)), .enabled(if: SharedValidator.available, SharedValidator.skipReason))
    func everySearchsetIsValidR4() async throws {
        try await FHIRFixture.with { fixture in try await fixture.application.test(.router) { client in
            let searchsets = try await Self.run(fixture, client)
            SharedValidator.expectValid(try await SharedValidator.validate(searchsets), count: searchsets.count)
        } }
    }
}
