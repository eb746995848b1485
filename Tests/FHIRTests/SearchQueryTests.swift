import FHIR
import Testing
import Vault

/// Parser tests for `_sort`, modifiers, chains, `_elements` and `_summary`.
@Suite("FHIR: search query parsing (sort, modifiers, chains, elements)")
struct SearchQueryTests {
    /// Parses one query string in lenient or strict mode.
    static func parse(_ type: String, _ query: String, strict: Bool = false) throws(FHIRError) -> SearchQuery {
        let pairs = query.split(separator: "&").map { pair -> (String, String) in
            let parts = pair.split(separator: "=", maxSplits: 1).map(String.init)
            return (parts[0], parts.count > 1 ? parts[1] : "")
        }
        return try SearchQuery(type: type, pairs: pairs, strict: strict)
    }

    @Test(arguments: [
        ("Observation", "_sort=date", [SearchQuery.SortKey(parameter: "date", descending: false)]),
        ("Observation", "_sort=-date,_id", [.init(parameter: "date", descending: true), .init(parameter: "_id", descending: false)]),
        ("Patient", "_sort=-birthdate,-_lastUpdated", [.init(parameter: "birthdate", descending: true), .init(parameter: "_lastUpdated", descending: true)]),
        ("Encounter", "_sort=_lastUpdated", [.init(parameter: "_lastUpdated", descending: false)]),
    ])
    func sortKeys(type: String, query: String, expected: [SearchQuery.SortKey]) throws {
        #expect(try Self.parse(type, query, strict: true).sort == expected)
    }

    @Test(arguments: [
        ("Patient", "_sort=name", "keyed hashes"),
        ("Patient", "_sort=family", "keyed hashes"),
        ("Observation", "_sort=code", "sortable for Observation: _id, _lastUpdated, combo-value-quantity, component-value-quantity, date, value-date, value-quantity"),
        ("Observation", "code:identifier=x", ":identifier applies to reference parameters"),
        ("Observation", "code:below=http://loinc.org|8480-6", "hierarchy R4 defines"),
        ("Observation", "date:not=2024", ":not applies to token"),
        ("Observation", "code:exact=x", ":exact applies to string parameters"),
        ("Observation", "subject:Group.name=x", "not a supported target type"),
        ("Observation", "code.name=x", "chaining is supported on patient references"),
        ("Observation", "subject.organization.name=x", "chains are one level deep"),
        ("Observation", "_summary=text", "use true, false, data or count"),
    ])
    func unsupportedIsRefusedStrictAndReportedLenient(type: String, query: String, why: String) throws {
        do {
            _ = try Self.parse(type, query, strict: true)
            Issue.record("strict parse of \(query) should fail")
        } catch {
            #expect(error.status == 400)
            #expect(error.diagnostics.contains(why), "\(error.diagnostics)")
        }
        let lenient = try Self.parse(type, query)
        #expect(lenient.ignored.count == 1)
        #expect(lenient.ignored.first?.contains(why) == true, "\(lenient.ignored)")
        #expect(lenient.criteria.isEmpty)
    }

    @Test func modifiersAndChains() throws {
        let query = try Self.parse("Observation", "code:not=4548-4&date:missing=true&subject:Patient.name:exact=smith&patient.identifier=urn:x%7C123", strict: true)
        #expect(query.criteria.count == 4)
        #expect(query.criteria[0].modifier == .not)
        #expect(query.criteria[0].values == [.exact("4548-4")])
        #expect(query.criteria[1].modifier == .missing(true))
        let chain = try #require(query.criteria[2].chain)
        #expect(chain.type == "Patient")
        #expect(chain.inner.first?.parameter.name == "name")
        #expect(chain.inner.first?.modifier == .exact)
        #expect(query.criteria[3].chain?.inner.first?.parameter.name == "identifier")
        let patient = try Self.parse("Patient", "identifier=urn:x|123&family:exact=Okafor&gender:missing=false", strict: true)
        #expect(patient.criteria[0].values == [.words(BlindIndexer.systemQualified(system: "urn:x", value: "123"))],
                "system|value is one system-qualified keyed token")
        #expect(patient.criteria[1].modifier == .exact)
        #expect(patient.criteria[2].modifier == .missing(false))
        #expect(throws: FHIRError.self) { try Self.parse("Patient", "gender:missing=maybe") }
        #expect(throws: FHIRError.self) { try Self.parse("Encounter", "subject.birthdate=notadate") }
    }

    @Test func elementsAndSummaryShapeTheResponse() throws {
        let observation: [String: Any] = ["resourceType": "Observation", "id": "o1", "meta": ["versionId": "1"], "status": "final",
                                          "code": ["text": "x"], "valueQuantity": ["value": 1], "note": [["text": "n"]], "text": ["div": "<div/>"]]
        let elements = try Self.parse("Observation", "_elements=status,value", strict: true)
        let shaped = elements.shape(observation)
        #expect(Set(shaped.keys) == ["resourceType", "id", "meta", "status", "valueQuantity"])
        let tags = (shaped["meta"] as? [String: Any])?["tag"] as? [[String: Any]]
        #expect(tags?.first?["code"] as? String == "SUBSETTED")
        #expect((shaped["meta"] as? [String: Any])?["versionId"] as? String == "1")
        let summary = try Self.parse("Observation", "_summary=true", strict: true).shape(observation)
        #expect(Set(summary.keys) == ["resourceType", "id", "meta", "status", "code", "valueQuantity"])
        let data = try Self.parse("Observation", "_summary=data", strict: true).shape(observation)
        #expect(data["text"] == nil && data["note"] != nil)
        #expect(try Self.parse("Observation", "_summary=false").shape(observation).count == observation.count)
        #expect(try Self.parse("Observation", "_summary=count").summaryCount)
        #expect(throws: FHIRError.self) { try Self.parse("Observation", "_elements=a.b") }
    }
}
