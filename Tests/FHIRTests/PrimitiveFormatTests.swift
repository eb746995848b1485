@testable import FHIR
import Foundation
import Testing

/// The validator's hand-written format scanners against the R4 regexes they replace, and its fast path
/// against its full walk.
@Suite("FHIR validation: scanners and fast path")
struct PrimitiveFormatTests {
    /// Tricky inputs for each string primitive (every one is also tried with the other types' inputs).
    static let tricky: [String: [String]] = [
        "date": ["2020", "2020-01", "2020-01-31", "0000", "0001", "0010", "0100", "1000", "9999", "2020-00", "2020-13", "2020-1",
                 "2020-01-00", "2020-01-32", "2020-02-30", "2020-1-01", "20200101", "2020-01-01T", "2020-", "2020-01-", "-2020",
                 "202", "20201", "2020-01-01 ", " 2020", "２０２０", "2020-01-01T00:00:00Z", "2020/01/01", ""],
        "dateTime": ["2020", "2020-01", "2020-01-02", "2020-01-02T03:04:05Z", "2020-01-02T03:04:05+01:00", "2020-01-02T03:04:05-14:00",
                     "2020-01-02T03:04:05+14:01", "2020-01-02T03:04:05+13:59", "2020-01-02T03:04:05+15:00", "2020-01-02T03:04:05.123Z",
                     "2020-01-02T03:04:05.Z", "2020-01-02T03:04:05", "2020-01-02T24:00:00Z", "2020-01-02T23:59:60Z", "2020-01-02T23:60:00Z",
                     "2020-01-02T03:04Z", "2020-01T03:04:05Z", "2020T03:04:05Z", "2020-01-02t03:04:05Z", "2020-01-02T03:04:05z",
                     "2020-01-02T03:04:05+0100", "2020-01-02T03:04:05+01:00:00", "2020-01-02T03:04:05.1234567890+00:00",
                     "2020-01-02T03:04:05ZZ", "2020-01-02T3:04:05Z", "0000-01-02T03:04:05Z", "2020-01-02T03:04:05.5.5Z", ""],
        "instant": ["2020-01-02T03:04:05Z", "2020-01-02T03:04:05.000+05:30", "2020-01-02", "2020-01-02T03:04:05", "2020-01-02T03:04:05+14:00",
                    "2020-01-02T03:04:05-14:30", "2020-01-02T00:00:60Z", "2020-13-02T03:04:05Z", "2020-01-02T03:04:05.Z", ""],
        "time": ["00:00:00", "23:59:59", "23:59:60", "24:00:00", "12:60:00", "12:00:61", "12:00:00.5", "12:00:00.", "12:00", "12:00:00Z",
                 "1:00:00", "12:00:00.123456789", " 12:00:00", ""],
        "id": ["a", "A-Z.0-9", "a_b", "a b", String(repeating: "x", count: 64), String(repeating: "x", count: 65), ".", "..", "é", "a/b", ""],
        "code": ["a", "a b", "a  b", " a", "a ", "a\tb", "a\nb", "a\u{0B}b", "a\u{0C}b", "a\u{A0}b", "\u{A0}", "é", "a\r\nb", "\t", ""],
        "uri": ["http://x", "", "a b", "urn:uuid:x", "a\u{A0}b", "a\u{0B}", "é", "\u{2028}", "a\tb"],
        "oid": ["urn:oid:1.2.3", "urn:oid:2.0", "urn:oid:3.1", "urn:oid:1", "urn:oid:1.", "urn:oid:1.02", "urn:oid:1.0", "urn:oid:1..2",
                "urn:oid:1.2.", "urn:oid:01.2", "URN:oid:1.2", "urn:oid:1.2 ", ""],
        "uuid": ["urn:uuid:c757873d-ec9a-4326-a141-556f43239520", "urn:uuid:C757873D-EC9A-4326-A141-556F43239520",
                 "urn:uuid:c757873d-ec9a-4326-a141-556f4323952", "urn:uuid:c757873d-ec9a-4326-a141-556f432395200",
                 "urn:uuid:c757873dec9a-4326-a141-556f43239520-", "urn:uuid:g757873d-ec9a-4326-a141-556f43239520",
                 "c757873d-ec9a-4326-a141-556f43239520", ""],
        "base64Binary": ["QUJD", "QUJDRA==", "QU JD", " QUJD ", "QUJD\nRA==", "QUJ", "QUJD=", "Q", "QUJD\u{0B}", "QUJD\u{A0}", "Q\u{A0}UJD", "====", ""],
        "string": ["x", " ", "\t\r\n", "a\u{0B}b", "\u{0C}", "é", "\u{A0}", ""],
        "xhtml": ["<div/>", " ", ""],
    ]

    static let alphabet: [Character] = Array("0123456789-:.T+Z z\t\n\u{0B}\u{0C}\r/=aAfFgé\u{A0}urnoid_")

    /// Every string primitive's scanner says what its regex (run by ICU as the validator used to) says,
    /// on the tricky inputs of all types and on 1,500 random mutations of them per type.
    /// (Both long checks yield now and then: a test that holds a thread of the cooperative pool for
    /// tens of seconds stalls every other test on a 2-core machine past its time limit.)
    @Test func scannersAgreeWithTheRegexes() async throws {
        let types = ["base64Binary", "canonical", "code", "date", "dateTime", "id", "instant", "markdown", "oid", "string", "time", "uri", "url",
                     "uuid", "xhtml"]
        let inputs = Self.tricky.values.flatMap { $0 }
        var generator = SplitMix64(seed: 15_07)
        var checked = 0, disagreements: [String] = []
        for type in types {
            let pattern = try #require(FHIRValidator.primitivePattern(type), "\(type) has no pattern")
            let regex = pattern.isEmpty ? nil : try NSRegularExpression(pattern: pattern)
            func expected(_ text: String) -> Bool {
                guard let regex else { return !text.isEmpty }
                return regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
            }
            await Task.yield()
            var cases = inputs
            let seeds = Self.tricky[type] ?? Self.tricky["uri"]!
            for _ in 0..<1_500 {
                var text = Array(seeds[Int(generator.next() % UInt64(seeds.count))])
                for _ in 0...(generator.next() % 3) {
                    let position = text.isEmpty ? 0 : Int(generator.next() % UInt64(text.count + 1))
                    let character = Self.alphabet[Int(generator.next() % UInt64(Self.alphabet.count))]
                    switch generator.next() % 3 {
                    case 0: text.insert(character, at: position)
                    case 1: if position < text.count { text.remove(at: position) }
                    default: if position < text.count { text[position] = character }
                    }
                }
                cases.append(String(text))
            }
            for text in cases {
                let scanned = try #require(FHIRValidator.hasPrimitiveFormat(text, type: type) as Bool?)
                checked += 1
                if checked % 100 == 0 { await Task.yield() }
                if scanned != expected(text) { disagreements.append("\(type) \(text.debugDescription): scanner \(scanned), regex \(!scanned)") }
            }
        }
        #expect(checked > 20_000)
        #expect(disagreements.isEmpty, "\(disagreements.prefix(20).joined(separator: "\n"))")
    }

    /// Each tricky input that is valid for its type is accepted (the table is not all refusals).
    @Test func trickyTableHasBothAnswers() throws {
        for (type, inputs) in Self.tricky {
            let answers = Set(try inputs.map { try #require(FHIRValidator.hasPrimitiveFormat($0, type: type) as Bool?) })
            #expect(answers == [true, false], "\(type)")
        }
    }

    /// The fast path says “no issue” exactly when the full walk reports none: on the invalid table, and on
    /// random mutations (deleted members, wrong JSON kinds, empty or spaced strings, arrays for single values
    /// and back, second choice types, `_element` objects) of the official examples and Synthea bundles.
    @Test func fastPathAgreesWithTheFullWalk() async throws {
        var resources: [[String: Any]] = try invalidResourceCases.map { try FHIRJSON.object(Array($0.json.utf8), limit: FHIRJSON.bundleBytesMax) }
        for folder in ["data/fhir-r4-examples", "data/synthea"] where SharedData.has(folder) {
            let directory = SharedData.url(folder)
            for name in try FileManager.default.contentsOfDirectory(atPath: directory.path).filter({ $0.hasSuffix(".json") }).sorted() {
                resources.append(try FHIRJSON.object([UInt8](Data(contentsOf: directory.appendingPathComponent(name))), limit: FHIRJSON.bundleBytesMax))
            }
        }
        var generator = SplitMix64(seed: 42)
        var checked = 0, valid = 0, disagreements: [String] = []
        func check(_ resource: [String: Any], _ label: String) {
            let fast = FHIRValidator.fastPathFindsNoIssue(resource)
            let issues = FHIRValidator.validateWalkingEverything(resource)
            checked += 1
            if fast { valid += 1 }
            if fast != issues.isEmpty { disagreements.append("\(label): fast path \(fast), full walk \(issues.prefix(3))") }
        }
        for (index, resource) in resources.enumerated() {
            await Task.yield()
            check(resource, "resource \(index)")
            for round in 0..<(SharedData.has("data/synthea") ? 6 : 20) {
                check(Mutation.apply(to: resource, using: &generator) as? [String: Any] ?? resource, "resource \(index) mutation \(round)")
            }
        }
        #expect(checked > 500)
        #expect(valid > 50 && valid < checked, "both answers are exercised: \(valid) of \(checked)")
        #expect(disagreements.isEmpty, "\(disagreements.prefix(10).joined(separator: "\n"))")
    }
}

/// One random change somewhere in a JSON tree.
enum Mutation {
    static var replacements: [Any] {
        ["x", "", " x", "2020-13-01", "urn:uuid:x", 1.5, NSNumber(value: Int64(0)), NSNumber(value: Int64(-1)), NSNumber(value: true), NSNull(),
         [Any](), [String: Any](), ["x"] as [Any], ["x": 1] as [String: Any], ["extension": [["url": "http://x", "valueString": "y"]]] as [String: Any]]
    }

    static func apply(to value: Any, using generator: inout SplitMix64) -> Any {
        if var list = value as? [Any], !list.isEmpty {
            let index = Int(generator.next() % UInt64(list.count))
            if generator.next() % 4 == 0 { return generator.next() % 2 == 0 ? list[index] : list + [list[index]] }
            list[index] = apply(to: list[index], using: &generator)
            return list
        }
        guard var object = value as? [String: Any], !object.isEmpty else { return replacements[Int(generator.next() % UInt64(replacements.count))] }
        let keys = object.keys.sorted()
        let key = keys[Int(generator.next() % UInt64(keys.count))]
        switch generator.next() % 8 {
        case 0: object[key] = nil
        case 1: object[key] = replacements[Int(generator.next() % UInt64(replacements.count))]
        case 2: object[key] = [object[key]!]
        case 3: object["_" + key] = generator.next() % 2 == 0 ? ["id": "a"] : [NSNull(), ["id": "a"]] as [Any]
        case 4: object[key + "String"] = "x"   // a second type of a choice element, or an unknown element
        case 5 where key.hasPrefix("value"): object["valueBoolean"] = NSNumber(value: true)
        default: object[key] = apply(to: object[key]!, using: &generator)
        }
        return object
    }
}

/// A small deterministic generator (SplitMix64), so failures reproduce.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
