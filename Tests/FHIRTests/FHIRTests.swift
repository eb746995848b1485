import FHIR
import Foundation
import Testing
import Vault

@Suite("FHIR: indexer, dates, structural checks")
struct FHIRTests {
    @Test func indexesIdentifiersBlindAndValuesPlainButNoFreeText() throws {
        let patient = try FHIRJSON.object(Array("""
        {"resourceType":"Patient","id":"p1","meta":{"lastUpdated":"2026-01-02T03:04:05.678Z"},
         "name":[{"family":"Doe","given":["Jane","Q"]}],"identifier":[{"value":"MRN-1"}],
         "telecom":[{"system":"phone","value":"555-0100"}],"address":[{"line":["1 Main St"],"city":"Springfield","postalCode":"01101"}],
         "birthDate":"1970-01-01","gender":"female","text":{"status":"generated","div":"<div>Jane Doe</div>"}}
        """.utf8))
        let fields = FHIRIndexer.extract(patient)
        #expect(fields.resourceType == "Patient")
        // Birth date and gender are quasi-identifiers: indexed blind, the date also kept (sealed at rest) to sort by.
        #expect(Set(fields.identifiers.map(\.value)) == ["01101", "1 Main St", "555-0100", "Doe", "Jane", "MRN-1", "Q", "Springfield",
                                                          "1970-01-01", "female",
                                                          BlindIndexer.systemQualified(system: "", value: "MRN-1")])   // `|MRN-1`: no system
        #expect(Set(fields.identifiers.filter { $0.field == .birthDate || $0.field == .gender }.map(\.field)) == [.birthDate, .gender])
        // Dates are intervals, a row by their start; an interval of a day or less (here a second)
        // has no row by its end (`_lastUpdated>`): searches on ends find it by its start.
        #expect(Set(fields.values) == [IndexedValue(param: "_type", value: "Patient"), IndexedValue(param: "_id", value: "p1"),
                                       IndexedValue(param: "_lastUpdated", value: "2026-01-02T03:04:05Z|2026-01-02T03:04:06Z")])
        #expect(fields.sortValues == [IndexedValue(param: "birthdate", value: "1970-01-01T00:00:00Z")])
        for value in fields.values { #expect(!["Doe", "Jane", "MRN-1", "Springfield"].contains(value.value)) }

        let observation = try FHIRJSON.object(Array("""
        {"resourceType":"Observation","id":"o1","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"4548-4"}]},
         "subject":{"reference":"Patient/p1"},"effectiveDateTime":"2026-01-02T10:00:00+02:00","valueQuantity":{"value":6.1},
         "note":[{"text":"secret remark"}]}
        """.utf8))
        let obs = FHIRIndexer.extract(observation)
        #expect(obs.identifiers.isEmpty)
        // The standard's parameters: code, status, the date as an interval, the quantity (6.1, no
        // unit) alone and with the code (a composite); `combo-code` and the other combo-
        // parameters are answered from these rows, not stored again; the subject is the record's
        // patient, the note free text: neither is a row.
        let quantity = SortableNumber.encode("6.1")! + String(repeating: String(SearchValues.separator), count: 3)
        #expect(Set(obs.values) == [IndexedValue(param: "_type", value: "Observation"), IndexedValue(param: "_id", value: "o1"),
                                    IndexedValue(param: "status", value: "final"), IndexedValue(param: "code", value: "http://loinc.org|4548-4"),
                                    IndexedValue(param: "code", value: "4548-4"),
                                    IndexedValue(param: "date", value: "2026-01-02T08:00:00Z|2026-01-02T08:00:01Z"),
                                    IndexedValue(param: "value-quantity", value: quantity),
                                    IndexedValue(param: "code-value-quantity", value: "http://loinc.org|4548-4$" + quantity),
                                    IndexedValue(param: "code-value-quantity", value: "4548-4$" + quantity)])
        #expect(FHIRResourceTypes.patientID(of: observation) == "p1")
        #expect(FHIRResourceTypes.patientID(of: patient) == "p1")
    }

    @Test(arguments: [
        ("2019", "2019-01-01T00:00:00Z", "2020-01-01T00:00:00Z"),
        ("2019-02", "2019-02-01T00:00:00Z", "2019-03-01T00:00:00Z"),
        ("2019-12-31", "2019-12-31T00:00:00Z", "2020-01-01T00:00:00Z"),
        ("2020-02-29", "2020-02-29T00:00:00Z", "2020-03-01T00:00:00Z"),
        ("2019-05-01T10:20:30Z", "2019-05-01T10:20:30Z", "2019-05-01T10:20:31Z"),
        ("2019-05-01T00:20:30.123+02:00", "2019-04-30T22:20:30Z", "2019-04-30T22:20:31Z"),
        ("2019-05-01T23:00:00-05:00", "2019-05-02T04:00:00Z", "2019-05-02T04:00:01Z"),
        // Proleptic Gregorian, as FHIR's dates are: the ten days Julian calendars skip in 1582 exist.
        ("1582-10-10", "1582-10-10T00:00:00Z", "1582-10-11T00:00:00Z"),
        ("1500-02", "1500-02-01T00:00:00Z", "1500-03-01T00:00:00Z"),
        ("0001", "0001-01-01T00:00:00Z", "0002-01-01T00:00:00Z"),
        ("1969-12-31T23:59:60Z", "1969-12-31T23:59:59Z", "1970-01-01T00:00:00Z"),
        ("2000-01-01T00:00:00.5+14:00", "1999-12-31T10:00:00Z", "1999-12-31T10:00:01Z"),
    ])
    func dateRanges(_ text: String, _ lo: String, _ hi: String) throws {
        let range = try #require(FHIRDateTime.range(text))
        #expect(range.lo == lo)
        #expect(range.hi == hi)
    }

    @Test(arguments: ["", "19", "2019-13", "2019-02-30", "2019-05-01T10:20", "2019-05-01T10:20:30", "2019-05-01T25:00:00Z",
                      "2019-05-01T10:20:30+2:00", "abcd", "2019/05/01",
                      "1500-02-29", "1900-02-29", "2019-04-31", "2019-05-01T10:20:30.Z", "2019-05-01T10:20:30Zx", "0000"])
    func badDates(_ text: String) { #expect(FHIRDateTime.range(text) == nil, "\(text)") }

    @Test func instantsForLastUpdated() {
        #expect(FHIRDateTime.instant(ms: 1_767_225_600_007) == "2026-01-01T00:00:00.007Z")
        #expect(FHIRDateTime.instant(ms: -1) == "1969-12-31T23:59:59.999Z")
        #expect(FHIRDateTime.milliseconds("1969-12-31") == -86_400_000)
    }

    struct BadResource: Sendable, CustomStringConvertible {
        let description: String
        let json: String
        let expectedType: String?
    }

    @Test(arguments: [
        BadResource(description: "no resourceType", json: #"{"id":"x"}"#, expectedType: nil),
        BadResource(description: "unknown resourceType", json: #"{"resourceType":"Gossip"}"#, expectedType: nil),
        BadResource(description: "type differs from URL", json: #"{"resourceType":"Patient"}"#, expectedType: "Observation"),
        BadResource(description: "bad id", json: #"{"resourceType":"Patient","id":"a b"}"#, expectedType: nil),
        BadResource(description: "id too long", json: "{\"resourceType\":\"Patient\",\"id\":\"\(String(repeating: "a", count: 65))\"}", expectedType: nil),
        BadResource(description: "empty string", json: #"{"resourceType":"Patient","gender":""}"#, expectedType: nil),
        BadResource(description: "empty array", json: #"{"resourceType":"Patient","name":[]}"#, expectedType: nil),
        BadResource(description: "empty object", json: #"{"resourceType":"Patient","maritalStatus":{}}"#, expectedType: nil),
        BadResource(description: "bad reference", json: #"{"resourceType":"Observation","subject":{"reference":"Patient"}}"#, expectedType: nil),
        BadResource(description: "reference to unknown type", json: #"{"resourceType":"Observation","subject":{"reference":"Pet/1"}}"#, expectedType: nil),
    ])
    func structuralChecksRefuse(_ bad: BadResource) throws {
        let object = try FHIRJSON.object(Array(bad.json.utf8))
        #expect(throws: FHIRError.self, "\(bad)") { try FHIRJSON.validate(object, expectedType: bad.expectedType) }
    }

    @Test func parsingLimitsAndOutcome() {
        #expect(throws: FHIRError.invalid("body is not valid JSON")) { try FHIRJSON.object(Array("{".utf8)) }
        #expect(throws: FHIRError.invalid("body must be a JSON object")) { try FHIRJSON.object(Array("[1]".utf8)) }
        let deep = String(repeating: "{\"a\":", count: 70) + "1" + String(repeating: "}", count: 70)
        #expect(throws: FHIRError.self) { try FHIRJSON.object(Array(deep.utf8)) }
        do {
            _ = try FHIRJSON.object([UInt8](repeating: 32, count: 11), limit: 10)
            Issue.record("an oversized body must be refused")
        } catch { #expect(error.status == 413) }
        let outcome = FHIRError.invalid("bad", at: "Patient.id").outcome
        #expect(outcome["resourceType"] as? String == "OperationOutcome")
        let issue = (outcome["issue"] as? [[String: Any]])?.first
        #expect(issue?["code"] as? String == "invalid")
        #expect(issue?["expression"] as? [String] == ["Patient.id"])
    }

    @Test func references() {
        #expect(FHIRJSON.isValidReference("Patient/123"))
        #expect(FHIRJSON.isValidReference("Patient/123/_history/2"))
        #expect(FHIRJSON.isValidReference("urn:uuid:8b58cdd1-3d79-3126-8fe0-da2c54d6805c"))
        #expect(FHIRJSON.isValidReference("https://example.org/fhir/Patient/1"))
        #expect(!FHIRJSON.isValidReference("Patient/"))
        #expect(!FHIRJSON.isValidReference("Patient/a/b"))
        #expect(FHIRJSON.parseReference("https://example.org/fhir/Patient/1")! == ("Patient", "1"))
        #expect(FHIRJSON.parseReference("Observation/9/_history/2")! == ("Observation", "9"))
        #expect(FHIRJSON.parseReference("urn:uuid:1") == nil)
    }
}

@Suite("Compact JSON writer")
struct CompactJSONTests {
    static func canonical(_ object: [String: Any]) -> Data {
        (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
    }

    /// Writes `sample` with the fast writer and expects it to parse back to the same object.
    static func expectRoundTrip(_ sample: [String: Any], _ name: String) throws {
        let written = FHIRJSON.data(sample, sorted: false)
        let reparsed = try #require(try JSONSerialization.jsonObject(with: Data(written)) as? [String: Any], "\(name)")
        #expect(canonical(reparsed) == canonical(sample), "\(name)")
    }

    /// What the fast writer produces parses back to the same object, for tricky values.
    @Test func roundTripsToTheSameObject() throws {
        let sample = try FHIRJSON.object(Array(#"""
        {"resourceType":"Observation","id":"x","valueQuantity":{"value":1.50,"unit":"%"},"a":-71.00939699999998,"b":42.260915,
         "c":true,"d":false,"e":null,"f":[1,2.5,-3,1e20,0.1],"g":"quote \" back \\ slash / newline \n tab \t ctl \u0001 é 中文 😀","h":{},"i":[],
         "j":9007199254740993,"k":-0.0}
        """#.utf8))
        try Self.expectRoundTrip(sample, "sample")
    }

    /// The same for every HL7 example resource in ../shared/data/fhir-r4-examples.
    @Test(.enabled(if: SharedData.has("data/fhir-r4-examples"), SharedData.reason("data/fhir-r4-examples")))
    func roundTripsEveryHL7Example() throws {
        let examples = SharedData.url("data/fhir-r4-examples")
        let names = try FileManager.default.contentsOfDirectory(atPath: examples.path).filter { $0.hasSuffix(".json") }.sorted()
        #expect(names.count >= 352, "only \(names.count) examples in \(examples.path)")
        for name in names {
            try Self.expectRoundTrip(try FHIRJSON.object(Array(try Data(contentsOf: examples.appendingPathComponent(name))),
                                                         limit: FHIRJSON.bundleBytesMax), name)
        }
    }
}
