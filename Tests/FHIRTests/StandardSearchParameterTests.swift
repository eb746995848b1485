import FHIR
import Foundation
import LedgerCore
import Vault
import Testing

/// Issue 15, items 3 and 6: the search-parameter table is the standard's, and every parameter of
/// the 20 most used types is indexed and answered. For each one the test writes a value of the
/// parameter's own FHIR type at its first path into an empty resource, indexes it, parses a
/// search value for it and checks that the index rows answer it — generated from the table, so a
/// parameter added by the generator is exercised without a line here.
@Suite("FHIR: the standard search parameters, each indexed and answered")
struct StandardSearchParameterTests {
    static let indexer = BlindIndexer(key: try! BlindIndexKey(secret: Array(repeating: 8, count: 32)))

    /// The types Synthea and the HL7 examples use most, in the order of their counts.
    static let mostUsed = ["Observation", "Encounter", "Procedure", "Condition", "MedicationRequest", "Immunization", "DiagnosticReport",
                           "Claim", "ExplanationOfBenefit", "CarePlan", "CareTeam", "AllergyIntolerance", "Patient", "Practitioner",
                           "Organization", "Location", "DocumentReference", "Coverage", "Goal", "ImagingStudy"]

    /// A sample element of a FHIR type and a search value that must find it; nil for types not indexed.
    static func sample(_ type: String, kind: SearchParameter.Kind, reference: String) -> (element: Any, query: String)? {
        switch type {
        case "CodeableConcept": return (["coding": [["system": "urn:test:cs", "code": "c-1"]]], "urn:test:cs|c-1")
        case "Coding": return (["system": "urn:test:cs", "code": "c-1"], "urn:test:cs|c-1")
        case "code", "id", "string", "markdown", "uri", "url", "canonical", "oid", "uuid":
            return kind == .string ? ("Wordsworth", "Wordsworth") : ("c-1", "c-1")
        case "boolean": return (true, "true")
        case "date", "dateTime": return ("2011-05-17", "2011-05")
        case "instant": return ("2011-05-17T10:00:00Z", "2011-05")
        case "Period": return (["start": "2011-05-17", "end": "2011-05-18"], "2011-05")
        case "Timing": return (["event": ["2011-05-17"]], "2011-05")
        case "Reference": return (["reference": reference], reference)
        case "Quantity", "Age", "Duration", "Count", "Distance", "SimpleQuantity":
            return (["value": 5.4, "system": "http://unitsofmeasure.org", "code": "mg", "unit": "mg"], "5.4|http://unitsofmeasure.org|mg")
        case "Money": return (["value": 5.4, "currency": "USD"], "5.4")
        case "integer", "decimal", "positiveInt", "unsignedInt": return (5, "5")
        case "HumanName": return (["family": "Wordsworth"], "Wordsworth")
        case "Address": return (["city": "Wordsworth"], "Wordsworth")
        case "Identifier": return (["system": "urn:test:id", "value": "ID-77"], "urn:test:id|ID-77")
        case "ContactPoint": return (["system": "phone", "value": "555-0100"], "555-0100")
        default: return nil   // Range, SampledData, UsageContext, Attachment, BackboneElement: not indexed as values
        }
    }

    /// Sets `value` at `path` (filters become fields of the objects they select).
    static func set(_ value: Any, at path: ElementPath, in object: inout [String: Any]) {
        func put(_ steps: ArraySlice<ElementPath.Step>, into object: inout [String: Any]) {
            guard let step = steps.first else { return }
            if steps.count == 1 {
                object[step.key] = value
            } else {
                var child = object[step.key] as? [String: Any] ?? [:]
                if let filter = step.filter { child[filter.key] = filter.value }
                put(steps.dropFirst(), into: &child)
                object[step.key] = child
            }
            if steps.count == 1, let filter = step.filter, var fields = value as? [String: Any] {
                fields[filter.key] = filter.value
                object[step.key] = fields
            }
        }
        put(path.steps[...], into: &object)
    }

    /// Whether the index of `fields` answers `value` of `parameter` (the same tests the search runs on its rows).
    static func answers(_ fields: ExtractedFields, _ value: SearchQuery.Value, _ parameter: SearchParameter) -> Bool {
        // A parameter answered from its parts: one of them holds the value.
        if !parameter.parts.isEmpty { return parameter.parts.contains { answers(fields, value.forRows(of: $0.name, insteadOf: parameter.name), $0) } }
        switch value {
        case .exact(let text): return fields.values.contains { $0.param == parameter.name && $0.value == text }
        case .reference(let type, let id): return fields.values.contains { $0.param == parameter.name && $0.value == "\(type ?? "")/\(id)" }
        case .anyExact(let texts): return fields.values.contains { $0.param == parameter.name && texts.contains($0.value) }
        case .words(let text):
            // The parameter's own keyed tokens must all be there (names, identifiers, telecom, addresses).
            guard case .blind(let field) = parameter.target else { return false }
            let tokens = fields.identifiers.reduce(into: Set<BlindToken>()) { $0.formUnion(Self.indexer.tokens($1)) }
            let wanted = Self.indexer.queryTokens(field: field, query: text, match: parameter.kind == .string ? .prefix : .word, scope: parameter.name)
            return !wanted.isEmpty && Set(wanted).isSubset(of: tokens)
        case .blindDate(let prefix, let lo, let hi):
            guard case .blind(let field) = parameter.target else { return false }
            let tokens = fields.identifiers.reduce(into: Set<BlindToken>()) { $0.formUnion(Self.indexer.tokens($1)) }
            return !Set(Self.indexer.dateQueryTokens(field: field, prefix: prefix, lo: lo, hi: hi, scope: parameter.name)).isDisjoint(with: tokens)
        case .rows(let match):
            return match.scans.contains { scan in
                fields.values.contains { row in
                    row.param == scan.param && String.utf8Order(row.value, scan.from) >= 0 && (scan.to.map { String.utf8Order(row.value, $0) < 0 } ?? true)
                        && match.test.matches(Substring(row.value), reversed: scan.reversed)
                }
            }
        }
    }

    @Test func everyParameterOfTheMostUsedTypesIsIndexedAndAnswered() throws {
        var exercised = 0, notIndexed: [String] = []
        for type in Self.mostUsed {
            let parameters = SearchParameters.forType(type).values.sorted { $0.name < $1.name }
            #expect(parameters.count >= 7, "\(type) has the standard's parameters")
            for parameter in parameters where parameter.name != "_id" || type == "Observation" {
                guard let path = parameter.paths.first else { continue }
                var resource: [String: Any] = ["resourceType": type, "id": "res-1"]
                let referenceType = path.referenceType ?? parameter.targets.first { $0 != "Patient" } ?? parameter.targets.first ?? "Group"
                let query: String
                if parameter.kind == .composite {
                    var element: [String: Any] = [:]
                    var parts: [String] = []
                    for component in parameter.components {
                        guard let componentPath = component.paths.first,
                              let sample = Self.sample(componentPath.type, kind: component.kind, reference: "\(referenceType)/ref-1") else { break }
                        Self.set(sample.element, at: componentPath, in: &element)
                        parts.append(sample.query)
                    }
                    guard parts.count == 2 else { notIndexed.append("\(type).\(parameter.name)"); continue }
                    if path.steps.isEmpty { resource.merge(element) { $1 } } else { Self.set(element, at: path, in: &resource) }
                    query = parts.joined(separator: "$")
                } else {
                    guard let sample = Self.sample(path.type, kind: parameter.kind, reference: "\(referenceType)/ref-1") else {
                        notIndexed.append("\(type).\(parameter.name) (\(path.type))")
                        continue
                    }
                    Self.set(sample.element, at: path, in: &resource)
                    query = sample.query
                }
                if parameter.target == .patient, referenceType == "Patient" { continue }   // answered through the record's patient
                let fields = FHIRIndexer.extract(resource)
                let parsed = try SearchQuery(type: type, pairs: [(parameter.name, query)], strict: true)
                let value = try #require(parsed.criteria.first?.values.first, "\(type).\(parameter.name)=\(query) parses")
                #expect(Self.answers(fields, value, parameter), "\(type).\(parameter.name)=\(query) finds \(resource): rows \(fields.values)")
                exercised += 1
            }
        }
        #expect(exercised >= 350, "\(exercised) parameters exercised")
        // What is left out is a Range, SampledData or another structure the table cannot search by value.
        #expect(notIndexed.count <= 40, "\(notIndexed)")
    }

    @Test(.enabled(if: SharedData.has("data/fhir-r4-core") && FileManager.default.isExecutableFile(atPath: "/usr/bin/python3"),
                   SharedData.reason("data/fhir-r4-core")))
    func theCommittedTableIsTheGeneratorsOutput() async throws {
        #expect(try await SharedData.generatorReproduces("generate-search-parameters.py", "Sources/FHIR/Tables/R4SearchParameterTable.tsv"),
                "rerun scripts/generate-search-parameters.py and commit its output")
    }

    @Test(.enabled(if: SharedData.has("data/fhir-r4-core") && FileManager.default.isExecutableFile(atPath: "/usr/bin/python3"),
                   SharedData.reason("data/fhir-r4-core")))
    func theCommittedHierarchiesAreTheGeneratorsOutput() async throws {
        #expect(try await SharedData.generatorReproduces("generate-code-hierarchies.py", "Sources/FHIR/Tables/R4CodeHierarchyTable.tsv"),
                "rerun scripts/generate-code-hierarchies.py and commit its output")
    }

    /// `:below` and `:above` on codes follow the hierarchies R4's own code systems define.
    @Test func codeHierarchies() {
        let nullFlavor = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor"
        #expect(Set(CodeHierarchy.below(system: nullFlavor, code: "UNK") ?? []) == ["UNK", "ASKU", "NAV", "NASK", "NAVU", "QS", "TRC"])
        #expect(CodeHierarchy.above(system: nullFlavor, code: "NAV") == ["NAV", "ASKU", "UNK", "NI"])
        #expect(CodeHierarchy.below(system: nullFlavor, code: "QS") == ["QS"], "a leaf is below itself")
        #expect(CodeHierarchy.below(system: "http://loinc.org", code: "8480-6") == nil, "LOINC's hierarchy is not known here")
    }

    @Test func theTableComesFromTheStandard() {
        let observation = SearchParameters.forType("Observation")
        #expect(observation.count >= 40, "R4 defines about 40 parameters on Observation, with the common ones")
        for name in ["value-quantity", "component-code", "combo-code-value-quantity", "encounter", "performer", "based-on", "code-value-quantity", "_tag"] {
            #expect(observation[name] != nil, "Observation has \(name)")
        }
        #expect(observation["code-value-string"] == nil, "a composite with a free-text part is not served (its text is blind)")
        #expect(SearchParameters.notServed.contains { $0.type == "Observation" && $0.name == "code-value-string" })
        #expect(observation["value-quantity"]?.definition == "http://hl7.org/fhir/SearchParameter/Observation-value-quantity")
        #expect(observation["combo-code"]?.parts.map(\.name) == ["code", "component-code"], "answered from the rows of code and component-code")
        #expect(observation["code"]?.parts.isEmpty == true)
        #expect(SearchParameters.forType("Patient")["name"]?.target == .blind(.name))
        #expect(SearchParameters.forType("Patient")["birthdate"]?.target == .blind(.birthDate))
        #expect(SearchParameters.forType("Patient")["address-city"]?.target == .blind(.address))
        #expect(SearchParameters.forType("Observation")["identifier"]?.target == .blind(.identifier))
        #expect(SearchParameters.forType("Observation")["subject"]?.target == .patient)
        #expect(SearchParameters.forType("Observation")["performer"]?.target == .value, "a performer that is a Patient is a stored reference")
    }
}

@Suite("FHIR: sortable numbers and the date prefixes")
struct SearchValueTests {
    @Test func sortableNumbersSortAsTheirValues() throws {
        var state: UInt64 = 0x5eed
        func next() -> UInt64 { state = state &* 6364136223846793005 &+ 1442695040888963407; return state >> 11 }
        var texts = ["0", "-0", "0.0", "5", "5.5", "50", "-5", "-5.5", "-50", "0.001", "-0.001", "1e3", "1.5E-3", "100", "99.999", "123456789.123"]
        for _ in 0..<400 {
            let digits = String(next() % 100_000)
            let point = Int(next() % 6)
            var text = digits.count > point ? String(digits.prefix(digits.count - point)) + (point > 0 ? "." + digits.suffix(point) : "") : digits
            if next() % 3 == 0 { text = "-" + text }
            texts.append(text)
        }
        let values = try texts.map { text in (text, try #require(Decimal(string: text)), try #require(SortableNumber.encode(text))) }
        for a in values {
            for b in values.prefix(60) {
                #expect((a.1 < b.1) == (String.utf8Order(a.2, b.2) < 0), "\(a.0) vs \(b.0): \(a.2) vs \(b.2)")
                #expect((a.1 == b.1) == (a.2 == b.2), "\(a.0) vs \(b.0)")
            }
        }
        #expect(SortableNumber.precisionRange("100").map { [$0.lo, $0.hi] } == [SortableNumber.encode("99.5")!, SortableNumber.encode("100.5")!])
        #expect(SortableNumber.encode("5x") == nil && SortableNumber.encode("") == nil && SortableNumber.encode("1.2.3") == nil)
    }

    /// R4 §3.1.1.5.6: how a stored interval compares with a search value, by prefix.
    @Test(arguments: [
        // stored [lo, hi)                        prefix  search   matches
        ("1990-01-01T00:00:00Z", "1991-01-01T00:00:00Z", "eq", "1990", true),
        ("1990-01-01T00:00:00Z", "1991-01-01T00:00:00Z", "eq", "1990-06", false),
        ("1990-01-01T00:00:00Z", "1991-01-01T00:00:00Z", "gt", "1990-06-15", true),   // 1990 may be later than June 15
        ("1990-06-01T00:00:00Z", "1990-07-01T00:00:00Z", "gt", "1990-06-15", true),
        ("1990-01-01T00:00:00Z", "1991-01-01T00:00:00Z", "lt", "1990-06-15", true),
        ("1990-01-01T00:00:00Z", "1991-01-01T00:00:00Z", "ne", "1990", false),
        ("1990-01-01T00:00:00Z", "1991-01-01T00:00:00Z", "ne", "1991", true),
        ("2015-01-01T00:00:00Z", SearchValues.openEnd, "gt", "2020", true),          // a Period with no end
        ("2015-01-01T00:00:00Z", SearchValues.openEnd, "eq", "2015", false),
        (SearchValues.openStart, "2000-01-01T00:00:00Z", "lt", "1990", true),        // a Period with no start
        (SearchValues.openStart, "2000-01-01T00:00:00Z", "eb", "2000", true),
        (SearchValues.openStart, "2000-01-01T00:00:00Z", "sa", "1999", false),
        ("2010-06-15T00:00:00Z", "2010-06-16T00:00:00Z", "sa", "2005", true),
        ("2010-06-15T00:00:00Z", "2010-06-16T00:00:00Z", "ge", "2010-06-15", true),
        ("2010-06-15T00:00:00Z", "2010-06-16T00:00:00Z", "le", "2010-06-14", false),
        ("2010-06-15T00:00:00Z", "2010-06-16T00:00:00Z", "ap", "2010-06-14", true),
    ])
    func datePrefixes(_ lo: String, _ hi: String, _ prefix: String, _ search: String, _ expected: Bool) throws {
        let range = try #require(SearchValues.interval(search))
        // `ap` is tested with the bounds the parser widened it to (a day at least on each side).
        let bounds = prefix == "ap" ? ("2010-06-13T00:00:00Z", "2010-06-16T00:00:00Z") : (range.lo, range.hi)
        #expect(RowTest.date(prefix: prefix, lo: bounds.0, hi: bounds.1).matches(Substring(lo + "|" + hi)) == expected)
        #expect(RowTest.date(prefix: prefix, lo: bounds.0, hi: bounds.1).matches(Substring(hi + "|" + lo), reversed: true) == expected)
    }

    @Test func periodsAndTimingsAreIntervals() {
        #expect(SearchValues.intervals(["start": "2015"]).map { [$0.lo, $0.hi] } == [["2015-01-01T00:00:00Z", SearchValues.openEnd]])
        #expect(SearchValues.intervals(["end": "1999-12-31"]).map { [$0.lo, $0.hi] } == [[SearchValues.openStart, "2000-01-01T00:00:00Z"]])
        #expect(SearchValues.intervals(["event": ["2011-05-17"], "repeat": ["boundsPeriod": ["start": "2011-05-01"]]]).count == 2)
        #expect(SearchValues.intervals(["start": "not a date"]).isEmpty)
        #expect(SearchValues.intervals("2011-05-17T10:00:00+02:00").map(\.lo) == ["2011-05-17T08:00:00Z"])
        // Search values may stop at the minute or the hour (R4 §3.1.1.4.2).
        #expect(SearchValues.searchInterval("2011-05-17T10:20").map { [$0.lo, $0.hi] } == ["2011-05-17T10:20:00Z", "2011-05-17T10:21:00Z"])
        #expect(SearchValues.searchInterval("2011-05-17T10+02:00").map { [$0.lo, $0.hi] } == ["2011-05-17T08:00:00Z", "2011-05-17T09:00:00Z"])
        #expect(SearchValues.searchInterval("2011-05-17T1") == nil && SearchValues.searchInterval("2011-05-17T10:2") == nil)
    }
}

/// Issue 17: a blind-indexed date (a birth date) is matched as the interval it was written as —
/// `1990` the year, `1990-06` the month — with every prefix, exactly as the plain index matches
/// its intervals. The plain index's test (`RowTest.date`) is the oracle for 800 seeded pairs.
@Suite("FHIR: blind dates are intervals too")
struct BlindDateIntervalTests {
    static let indexer = BlindIndexer(key: try! BlindIndexKey(secret: Array(repeating: 12, count: 32)))

    @Test func blindDatesMatchAsThePlainIndexDoes() throws {
        var state: UInt64 = 0xda7e
        func next(_ bound: Int) -> Int { state = state &* 6364136223846793005 &+ 1442695040888963407; return Int((state >> 33) % UInt64(bound)) }
        func date() -> String {
            let year = String(1985 + next(10)), month = String(format: "%02d", 1 + next(12)), day = String(format: "%02d", 1 + next(28))
            switch next(3) {
            case 0: return year
            case 1: return year + "-" + month
            default: return year + "-" + month + "-" + day
            }
        }
        var checked = 0, matched = 0
        for _ in 0..<800 {
            let stored = date(), search = date()
            let prefix = ["eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"][next(9)]
            var (lo, hi) = try #require(SearchValues.interval(search))
            if prefix == "ap" { (lo, hi) = try #require(SearchValues.approximately(lo: lo, hi: hi)) }
            let interval = try #require(SearchValues.interval(stored))
            let expected = RowTest.date(prefix: prefix, lo: lo, hi: hi).matches(Substring(interval.lo + "|" + interval.hi))
            let tokens = Set(Self.indexer.dateTokens(field: .birthDate, value: stored, scope: "birthdate"))
            let query = Set(Self.indexer.dateQueryTokens(field: .birthDate, prefix: prefix, lo: lo, hi: hi, scope: "birthdate"))
            #expect(!query.isDisjoint(with: tokens) == expected, "stored \(stored), birthdate=\(prefix)\(search)")
            checked += 1
            if expected { matched += 1 }
        }
        #expect(checked == 800 && matched > 100 && matched < 700, "both answers occur: \(matched) of \(checked)")
    }

    /// The issue's first example: `birthdate=gt1990-06-15` finds a birth date of 1990 and of 1990-06.
    @Test func aYearOrAMonthMayBeLater() throws {
        let (lo, hi) = try #require(SearchValues.interval("1990-06-15"))
        let query = Set(Self.indexer.dateQueryTokens(field: .birthDate, prefix: "gt", lo: lo, hi: hi))
        for stored in ["1990", "1990-06", "1990-06-16", "1991-01-01"] {
            #expect(!query.isDisjoint(with: Self.indexer.dateTokens(field: .birthDate, value: stored)), "\(stored)")
        }
        for stored in ["1989", "1990-05", "1990-06-15"] {
            #expect(query.isDisjoint(with: Self.indexer.dateTokens(field: .birthDate, value: stored)), "\(stored)")
        }
    }
}
