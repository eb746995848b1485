import FHIR
import Foundation
import Testing

/// `FHIRJSON.object`'s own JSON parser: what it accepts and builds, what it refuses and why, its
/// depth limit, and agreement with JSONSerialization on the shared FHIR examples and Synthea bundles.
@Suite("FHIR: JSON parser")
struct JSONParserTests {
    /// One input and the compact sorted JSON (`FHIRJSON.data`) it must parse to.
    struct Valid: Sendable, CustomStringConvertible {
        let description: String
        let json: String
        let expected: String
        /// Whether JSONSerialization must agree (false where it is lenient or lossy).
        var sameAsFoundation = true
    }

    /// One input and the error message it must be refused with.
    struct Invalid: Sendable, CustomStringConvertible {
        let description: String
        let bytes: [UInt8]
        let message: String

        init(_ description: String, _ json: String, _ message: String = JSONParserTests.notJSON) {
            self.init(description, Array(json.utf8), message)
        }

        init(_ description: String, _ bytes: [UInt8], _ message: String = JSONParserTests.notJSON) {
            self.description = description
            self.bytes = bytes
            self.message = message
        }
    }

    static let notJSON = "body is not valid JSON"
    static let notObject = "body must be a JSON object"
    static let tooDeep = "JSON is nested deeper than 64 levels"

    /// The canonical text of a parsed object.
    static func canonical(_ object: [String: Any]) -> String { String(decoding: FHIRJSON.data(object, sorted: true), as: UTF8.self) }

    /// What JSONSerialization makes of `bytes`, when it is an object.
    static func foundation(_ bytes: [UInt8]) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])) as? [String: Any]
    }

    @Test(arguments: [
        Valid(description: "empty object", json: "{}", expected: "{}"),
        Valid(description: "whitespace: space, tab, CR, LF", json: " \t\r\n{ \"a\" :\t1 ,\r\n\"b\" : [ ] } \n", expected: #"{"a":1,"b":[]}"#),
        Valid(description: "literals", json: #"{"t":true,"f":false,"n":null}"#, expected: #"{"f":false,"n":null,"t":true}"#),
        Valid(description: "nested", json: #"{"a":[{"b":[[],{}]},[1,[2]]]}"#, expected: #"{"a":[{"b":[[],{}]},[1,[2]]]}"#),
        Valid(description: "duplicate keys: the last wins", json: #"{"a":1,"b":2,"a":3}"#, expected: #"{"a":3,"b":2}"#),
        Valid(description: "integers", json: #"{"a":0,"b":-0,"c":42,"d":-17,"e":9223372036854775807,"f":-9223372036854775808}"#,
              expected: #"{"a":0,"b":0,"c":42,"d":-17,"e":9223372036854775807,"f":-9223372036854775808}"#),
        Valid(description: "fractions and exponents", json: #"{"a":1.5,"b":-0.25,"c":1e2,"d":1E-2,"e":2.5e+3,"f":5.0,"g":0.1,"h":-71.00939699999998}"#,
              expected: #"{"a":1.5,"b":-0.25,"c":100,"d":0.01,"e":2500,"f":5,"g":0.1,"h":-71.00939699999998}"#),
        Valid(description: "tiny numbers underflow to zero", json: #"{"a":1e-400}"#, expected: #"{"a":0}"#),
        Valid(description: "an integer beyond Int64 is a Double", json: #"{"a":9223372036854775808,"b":-123456789012345678901}"#,
              expected: #"{"a":9.223372036854776e+18,"b":-1.2345678901234568e+20}"#, sameAsFoundation: false),
        Valid(description: "a long fraction is the nearest Double", json: #"{"a":1.0000000000000002}"#, expected: #"{"a":1.0000000000000002}"#),
        Valid(description: "escapes", json: #"{"s":"\"\\\/\b\f\n\r\t\u0041\u00e9\u4E2D\ud83d\ude00\u0000"}"#,
              expected: #"{"s":"\"\\/\b\f\n\r\tAé中😀\u0000"}"#),
        Valid(description: "raw UTF-8 of 2, 3 and 4 bytes, U+FFFF and U+10FFFF",
              json: "{\"s\":\"é € 😀 \u{FFFF} \u{10FFFF}\",\"é\":1}", expected: "{\"é\":1,\"s\":\"é € 😀 \u{FFFF} \u{10FFFF}\"}"),
        Valid(description: "DEL and other printable bytes", json: "{\"s\":\"\u{7F}~ '\"}", expected: "{\"s\":\"\u{7F}~ '\"}"),
        Valid(description: "a UTF-8 byte order mark before the text", json: "\u{FEFF}{\"a\":1}", expected: #"{"a":1}"#),
        // Found by the json fuzz target: JSONSerialization drops a U+FEFF that starts a string; RFC 8259 keeps it.
        Valid(description: "U+FEFF starting a string is kept", json: "{\"s\":\"\u{FEFF}x\",\"\u{FEFF}\":\"\u{FEFF}\"}",
              expected: "{\"\u{FEFF}\":\"\u{FEFF}\",\"s\":\"\u{FEFF}x\"}", sameAsFoundation: false),
    ])
    func accepts(_ valid: Valid) throws {
        let bytes = Array(valid.json.utf8)
        let object = try FHIRJSON.object(bytes)
        #expect(Self.canonical(object) == valid.expected, "\(valid)")
        if valid.sameAsFoundation {
            let old = try #require(Self.foundation(bytes), "\(valid)")
            #expect(Self.canonical(old) == valid.expected, "JSONSerialization: \(valid)")
        }
    }

    @Test(arguments: [
        Invalid("empty input", ""),
        Invalid("only whitespace", " \n\t"),
        Invalid("unclosed object", "{"),
        Invalid("unclosed array", #"{"a":[1"#),
        Invalid("a close with no open", "}"),
        Invalid("mismatched close", #"{"a":[1}}"#),
        Invalid("trailing comma in an object", #"{"a":1,}"#),
        Invalid("trailing comma in an array", #"{"a":[1,]}"#),
        Invalid("a lone comma", #"{"a":[,]}"#),
        Invalid("missing comma", #"{"a":1 "b":2}"#),
        Invalid("missing colon", #"{"a" 1}"#),
        Invalid("missing value", #"{"a":}"#),
        Invalid("unquoted key", "{a:1}"),
        Invalid("number key", "{1:1}"),
        Invalid("leading zero", #"{"a":01}"#),
        Invalid("negative leading zero", #"{"a":-01}"#),
        Invalid("plus sign", #"{"a":+1}"#),
        Invalid("no integer part", #"{"a":.5}"#),
        Invalid("no fraction digits", #"{"a":1.}"#),
        Invalid("no exponent digits", #"{"a":1e}"#),
        Invalid("signed exponent without digits", #"{"a":1e+}"#),
        Invalid("a lone minus", #"{"a":-}"#),
        Invalid("hexadecimal", #"{"a":0x10}"#),
        Invalid("NaN", #"{"a":NaN}"#),
        Invalid("Infinity", #"{"a":Infinity}"#),
        Invalid("-Infinity", #"{"a":-Infinity}"#),
        Invalid("a number too large for a Double", #"{"a":1e400}"#),
        Invalid("single-quoted string", #"{"a":'x'}"#),
        Invalid("single-quoted key", "{'a':1}"),
        Invalid("block comment", #"{"a":1 /* note */}"#),
        Invalid("line comment", "// note\n{}"),
        Invalid("capitalized literal", #"{"a":True}"#),
        Invalid("truncated literal", #"{"a":tru}"#),
        Invalid("truncated null at the end", #"{"a":nul"#),
        Invalid("misspelled literal", #"{"a":fals3}"#),
        Invalid("raw tab in a string", "{\"a\":\"x\ty\"}"),
        Invalid("raw line feed in a string", "{\"a\":\"x\ny\"}"),
        Invalid("raw 0x1F in a string", "{\"a\":\"x\u{1F}\"}"),
        Invalid("raw NUL in a key", "{\"a\u{0}\":1}"),
        Invalid("unknown escape", #"{"a":"\x41"}"#),
        Invalid("escaped single quote", #"{"a":"\'"}"#),
        Invalid("short \\u escape", #"{"a":"\u12"}"#),
        Invalid("non-hex \\u escape", #"{"a":"\u12G4"}"#),
        Invalid("upper-case \\U", #"{"a":"\U0041"}"#),
        Invalid("lone high surrogate", #"{"a":"\ud800"}"#),
        Invalid("lone high surrogate then text", #"{"a":"\ud800xxxxxx"}"#),
        Invalid("lone low surrogate", #"{"a":"\udc00"}"#),
        Invalid("high surrogate then a non-surrogate", #"{"a":"\ud800\u0041"}"#),
        Invalid("two high surrogates", #"{"a":"\ud800\ud800"}"#),
        Invalid("reversed surrogate pair", #"{"a":"\ude00\ud83d"}"#),
        Invalid("unterminated string", #"{"a":"x"#),
        Invalid("unterminated escape", #"{"a":"x\"#),
        Invalid("trailing garbage", "{} x"),
        Invalid("two values", "{}{}"),
        Invalid("trailing comma after the value", "{},"),
        Invalid("form feed is not whitespace", "\u{0C}{}"),
        Invalid("vertical tab is not whitespace", "{\u{0B}}"),
        Invalid("no-break space is not whitespace", "\u{A0}{}"),
        Invalid("trailing NUL", [0x7B, 0x7D, 0x00]),
        Invalid("UTF-16 text with a byte order mark", [0xFE, 0xFF, 0x00, 0x7B, 0x00, 0x7D]),
        Invalid("byte order mark in the middle", "{}\u{FEFF}"),
        Invalid("invalid byte 0xFF", [0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xFF, 0x22, 0x7D]),
        Invalid("lone continuation byte", [0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0x80, 0x22, 0x7D]),
        Invalid("overlong NUL", [0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xC0, 0x80, 0x22, 0x7D]),
        Invalid("overlong 0x7F", [0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xC1, 0xBF, 0x22, 0x7D]),
        Invalid("overlong three bytes", [0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xE0, 0x80, 0xAF, 0x22, 0x7D]),
        Invalid("encoded surrogate", [0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xED, 0xA0, 0x80, 0x22, 0x7D]),
        Invalid("beyond U+10FFFF", [0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xF4, 0x90, 0x80, 0x80, 0x22, 0x7D]),
        Invalid("lead byte 0xF5", [0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xF5, 0x80, 0x80, 0x80, 0x22, 0x7D]),
        Invalid("truncated sequence before the quote", [0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xE2, 0x82, 0x22, 0x7D]),
        Invalid("invalid UTF-8 in a key", [0x7B, 0x22, 0xC3, 0x22, 0x3A, 0x31, 0x7D]),
        Invalid("invalid UTF-8 in a long string",
                Array(#"{"a":"0123456789abcdef"#.utf8) + [0xC3, 0x28] + Array(#"0123456789abcdef"}"#.utf8)),
        Invalid("non-ASCII outside strings", [0x7B, 0x7D, 0xC3, 0xA9]),
        Invalid("an array", "[1]", JSONParserTests.notObject),
        Invalid("a string", #""x""#, JSONParserTests.notObject),
        Invalid("a number", "1", JSONParserTests.notObject),
        Invalid("true", "true", JSONParserTests.notObject),
        Invalid("null", " null ", JSONParserTests.notObject),
        Invalid("an invalid array", "[1,]"),
        Invalid("an array nested too deep", String(repeating: "[", count: 100) + String(repeating: "]", count: 100), JSONParserTests.notObject),
    ])
    func refuses(_ invalid: Invalid) {
        #expect(throws: FHIRError.invalid(invalid.message), "\(invalid)") { try FHIRJSON.object(invalid.bytes) }
    }

    /// The 8-byte scan over string contents stops at a quote, a backslash or a control character
    /// wherever it falls, and notices non-ASCII bytes in any position.
    @Test func stringScanAtEveryOffset() throws {
        for offset in 0..<20 {
            let before = String(repeating: "a", count: offset)
            let after = String(repeating: "b", count: 19 - offset)
            let escaped = try FHIRJSON.object(Array("{\"s\":\"\(before)\\n\(after)\"}".utf8))
            #expect(escaped["s"] as? String == before + "\n" + after, "offset \(offset)")
            let quoted = try FHIRJSON.object(Array("{\"s\":\"\(before)\",\"t\":\"\(after)\"}".utf8))
            #expect(quoted["s"] as? String == before && quoted["t"] as? String == after, "offset \(offset)")
            let accented = try FHIRJSON.object(Array("{\"s\":\"\(before)é\(after)\"}".utf8))
            #expect(accented["s"] as? String == before + "é" + after, "offset \(offset)")
            for control: UInt8 in [0x00, 0x09, 0x0A, 0x1F] {
                let bytes = Array("{\"s\":\"\(before)".utf8) + [control] + Array("\(after)\"}".utf8)
                #expect(throws: FHIRError.invalid(Self.notJSON), "offset \(offset), byte \(control)") { try FHIRJSON.object(bytes) }
            }
            let broken = Array("{\"s\":\"\(before)".utf8) + [0xE2, 0x82] + Array("\(after)\"}".utf8)
            #expect(throws: FHIRError.invalid(Self.notJSON), "offset \(offset)") { try FHIRJSON.object(broken) }
        }
    }

    /// The values built are the ones the rest of the code reads, with the types JSONSerialization uses.
    @Test func valueTypesAndCasts() throws {
        let text = #"""
        {"t":true,"f":false,"zero":0,"one":1,"i":5,"neg":-3,"d":5.0,"x":5.5,"e":1e2,"max":9223372036854775807,
         "n":null,"s":"5","o":{"k":"v"},"a":[1,"2",true]}
        """#
        let object = try FHIRJSON.object(Array(text.utf8))
        let old = try #require(Self.foundation(Array(text.utf8)))
        for key in ["t", "f"] {
            let flag = try #require(object[key] as? NSNumber)
            #expect(String(cString: flag.objCType) == "c", "\(key)")   // how CompactJSON.write and ClaimMapping tell booleans
        }
        #expect(object["t"] as? Bool == true)
        #expect(object["f"] as? Bool == false)
        for key in ["zero", "one", "i", "neg", "max"] {   // integers ("i" or "q": NSNumber keeps small ones as Int32)
            #expect(!["c", "d", "f"].contains(String(cString: try #require(object[key] as? NSNumber).objCType)), "\(key)")
        }
        #expect(String(cString: try #require(object["d"] as? NSNumber).objCType) == "d")
        #expect(object["d"] as? Int == 5)          // written 5.0, still an Int (ClaimMapping's sequence)
        #expect(object["x"] as? Int == nil)
        #expect(object["x"] as? Double == 5.5)
        #expect(object["i"] as? Double == 5)
        #expect(object["i"] as? Bool == nil)
        #expect(object["max"] as? Int == Int.max)
        #expect(object["n"] is NSNull)
        #expect((object["a"] as? [Any])?.count == 3)
        #expect((object["o"] as? [String: Any])?["k"] as? String == "v")
        // Every cast reads the same as on JSONSerialization's result.
        #expect(Set(object.keys) == Set(old.keys))
        for key in object.keys {
            let new = object[key] as Any, was = old[key] as Any
            #expect(new as? String == was as? String, "\(key) as? String")
            #expect(new as? Int == was as? Int, "\(key) as? Int")
            #expect(new as? Int64 == was as? Int64, "\(key) as? Int64")
            #expect(new as? Double == was as? Double, "\(key) as? Double")
            #expect(new as? Bool == was as? Bool, "\(key) as? Bool")
            #expect((new as? [String: Any] == nil) == (was as? [String: Any] == nil), "\(key) as? [String: Any]")
            #expect((new as? [Any] == nil) == (was as? [Any] == nil), "\(key) as? [Any]")
            #expect((new is NSNull) == (was is NSNull), "\(key) is NSNull")
        }
        // The fast unsorted writer keeps booleans and numbers apart.
        let written = String(decoding: FHIRJSON.data(object, sorted: false), as: UTF8.self)
        for fragment in [#""t":true"#, #""f":false"#, #""i":5"#, #""x":5.5"#, #""zero":0"#, #""one":1"#, #"[1,"2",true]"#] {
            #expect(written.contains(fragment), "\(fragment) in \(written)")
        }
    }

    /// Any byte collection parses, contiguous or not.
    @Test func inputCollections() throws {
        let text = #"{"a":[1,{"b":"c"}]}"#
        let expected = #"{"a":[1,{"b":"c"}]}"#
        #expect(Self.canonical(try FHIRJSON.object(Data(text.utf8))) == expected)
        #expect(Self.canonical(try FHIRJSON.object(Array("xx\(text)yy".utf8).dropFirst(2).dropLast(2))) == expected)
        #expect(Self.canonical(try FHIRJSON.object(AnyCollection(Array(text.utf8)))) == expected)
        #expect(throws: FHIRError.invalid(Self.notJSON)) { try FHIRJSON.object(AnyCollection([UInt8]())) }
    }

    /// The top-level object is level 1 and each value inside a container one level deeper, as the
    /// walk after JSONSerialization counted: `{"a":1}` is 2 levels.
    @Test func depthLimitAt64And65Levels() throws {
        /// `inner` as the value at `level`, inside `level - 1` objects.
        func at(_ level: Int, _ inner: String) -> [UInt8] {
            Array((String(repeating: #"{"a":"#, count: level - 1) + inner + String(repeating: "}", count: level - 1)).utf8)
        }
        for inner in ["1", #""x""#, "null", "true", "{}", "[]"] {
            #expect(try FHIRJSON.object(at(64, inner)).count == 1, "64 levels: \(inner)")
            #expect(throws: FHIRError.invalid(Self.tooDeep), "65 levels: \(inner)") { try FHIRJSON.object(at(65, inner)) }
        }
        #expect(try FHIRJSON.object(at(63, "[1]")).count == 1)
        #expect(try FHIRJSON.object(at(63, #"{"b":1}"#)).count == 1)
        #expect(throws: FHIRError.invalid(Self.tooDeep)) { try FHIRJSON.object(at(64, "[1]")) }
        #expect(throws: FHIRError.invalid(Self.tooDeep)) { try FHIRJSON.object(at(64, #"{"b":1}"#)) }
        /// A number inside `count` arrays inside the top-level object.
        func arrays(_ count: Int) -> [UInt8] {
            Array(("{\"a\":" + String(repeating: "[", count: count) + "1" + String(repeating: "]", count: count) + "}").utf8)
        }
        #expect(try FHIRJSON.object(arrays(62)).count == 1)
        #expect(throws: FHIRError.invalid(Self.tooDeep)) { try FHIRJSON.object(arrays(63)) }
        // Far too deep fails as soon as the limit is passed, without running out of stack.
        #expect(throws: FHIRError.invalid(Self.tooDeep)) { try FHIRJSON.object(at(200_000, "1"), limit: FHIRJSON.bundleBytesMax) }
    }

    /// Every `.json` under ../shared/data/fhir-r4-examples and ../shared/data/synthea parses to
    /// what JSONSerialization makes of it: the same canonical text, and leaf by leaf the same kinds.
    @Test(.enabled(if: SharedData.has("data/fhir-r4-examples", "data/synthea"), SharedData.reason("data/fhir-r4-examples", "data/synthea")))
    func agreesWithJSONSerializationOnSharedData() throws {
        var files: [URL] = []
        for folder in ["fhir-r4-examples", "synthea"] {
            let directory = SharedData.url("data/\(folder)")
            let names = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".json") }
            #expect(!names.isEmpty, "no .json files in \(directory.path)")
            files += names.sorted().map { directory.appendingPathComponent($0) }
        }
        // The 352 HL7 examples and the 10 Synthea bundles (../shared/data/README.md).
        #expect(files.count >= 352 + 10, "only \(files.count) files")
        var leaves = 0
        for file in files {
            let bytes = Array(try Data(contentsOf: file))
            let new = try FHIRJSON.object(bytes, limit: FHIRJSON.bundleBytesMax)
            let old = try #require(Self.foundation(bytes), "\(file.lastPathComponent)")
            #expect(Self.canonical(new) == Self.canonical(old), "\(file.lastPathComponent)")
            var differences: [String] = []
            Self.compare(new, old, at: file.lastPathComponent, leaves: &leaves, differences: &differences)
            #expect(differences.isEmpty, "\(differences.prefix(5))")
        }
        #expect(leaves > 50_000)
    }

    /// Appends to `differences` each place where `new` and `old` differ in kind (object, array,
    /// string, boolean, number, null) or value.
    static func compare(_ new: Any, _ old: Any, at path: String, leaves: inout Int, differences: inout [String]) {
        switch (new, old) {
        case let (new as [String: Any], old as [String: Any]):
            guard Set(new.keys) == Set(old.keys) else {
                differences.append("\(path): keys differ")
                return
            }
            for (key, child) in new { compare(child, old[key] as Any, at: "\(path).\(key)", leaves: &leaves, differences: &differences) }
        case let (new as [Any], old as [Any]):
            guard new.count == old.count else {
                differences.append("\(path): \(new.count) vs \(old.count) elements")
                return
            }
            for (index, child) in new.enumerated() { compare(child, old[index], at: "\(path)[\(index)]", leaves: &leaves, differences: &differences) }
        case let (new as String, old as String):
            leaves += 1
            if new != old { differences.append("\(path): strings differ") }
        case let (new as NSNumber, old as NSNumber):
            leaves += 1
            let newIsBool = String(cString: new.objCType) == "c", oldIsBool = String(cString: old.objCType) == "c"
            if newIsBool != oldIsBool {
                differences.append("\(path): \(old) (boolean: \(oldIsBool)) became \(new) (boolean: \(newIsBool))")
            } else if newIsBool ? new.boolValue != old.boolValue
                        : new as? Int != old as? Int || new as? Bool != old as? Bool || new.description != old.description {
                differences.append("\(path): \(old) became \(new)")
            }
        case (is NSNull, is NSNull):
            leaves += 1
        default:
            differences.append("\(path): \(type(of: old)) became \(type(of: new))")
        }
    }
}

