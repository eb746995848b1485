@testable import FHIR
import Foundation
import LedgerCore

// libFuzzer target `json`: `JSONParser.object(in:depthMax:)` (Sources/FHIR/JSONParser.swift), built by Fuzz/run with
// FHIR instrumented. On every input that parses: CompactJSON.write (LedgerCore, not instrumented here) serializes the object, the text parses back to the
// same value, JSONSerialization accepts the input and builds the same value, and FHIRJSON.validate answers.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    let input = UnsafeBufferPointer(start: data, count: size)
    let object: [String: Any]
    do { object = try JSONParser.object(in: input, depthMax: FHIRJSON.depthMax) } catch {
        if case .syntax(let at) = error { fuzzCheck(at >= 0 && at <= size, "syntax offset \(at) outside 0…\(size)") }
        return 0
    }
    var text: [UInt8] = []
    fuzzCheck(CompactJSON.write(object, into: &text), "a parsed object does not serialize")
    let again: [String: Any]
    do {
        again = try text.withUnsafeBufferPointer { buffer throws(JSONParser.Failure) in try JSONParser.object(in: buffer, depthMax: FHIRJSON.depthMax) }
    } catch {
        fatalError("the serialization of a parsed object does not parse: \(error)")
    }
    fuzzCheck(JSONFuzz.same(object, again, exactNumbers: true), "a parsed object changes through CompactJSON.write")
    guard let foundation = try? JSONSerialization.jsonObject(with: Data(input), options: [.fragmentsAllowed]) else {
        fatalError("JSONParser accepts a text JSONSerialization refuses")
    }
    // JSONSerialization drops a U+FEFF that starts a string (`{"s":"\u{FEFF}x"}` gives "x"); JSONParser keeps it, as
    // RFC 8259 says (JSONParserTests). Texts with one past a leading byte order mark are not compared.
    if !JSONFuzz.hasByteOrderMark(input.dropFirst(input.starts(with: [0xEF, 0xBB, 0xBF]) ? 3 : 0)) {
        fuzzCheck(JSONFuzz.same(object, foundation, exactNumbers: false), "JSONParser and JSONSerialization build different values")
    }
    _ = try? FHIRJSON.validate(object)
    return 0
}

enum JSONFuzz {
    /// Whether the UTF-8 of U+FEFF occurs in `bytes`.
    static func hasByteOrderMark(_ bytes: Slice<UnsafeBufferPointer<UInt8>>) -> Bool {
        bytes.indices.contains { bytes[$0] == 0xEF && bytes[$0...].starts(with: [0xEF, 0xBB, 0xBF]) }
    }

    /// Structural equality of the values JSONParser and JSONSerialization build.
    static func same(_ a: Any, _ b: Any, exactNumbers: Bool) -> Bool {
        switch (a, b) {
        case let (x as String, y as String): return x == y
        case let (x as [String: Any], y as [String: Any]):
            return x.count == y.count && x.allSatisfy { key, value in y[key].map { same(value, $0, exactNumbers: exactNumbers) } ?? false }
        case let (x as [Any], y as [Any]):
            return x.count == y.count && zip(x, y).allSatisfy { same($0, $1, exactNumbers: exactNumbers) }
        case (is NSNull, is NSNull): return true
        case let (x as NSNumber, y as NSNumber): return sameNumber(x, y, exact: exactNumbers)
        default: return false
        }
    }

    /// Booleans equal booleans; integers that fit Int64 compare exactly; other numbers compare as Doubles: exactly
    /// between two of JSONParser's, within 1e-12 against JSONSerialization, which keeps a long number as a Decimal
    /// whose doubleValue is not the nearest Double (8161600…0 with 104 digits gives 8.161600000000009e+103).
    static func sameNumber(_ x: NSNumber, _ y: NSNumber, exact: Bool) -> Bool {
        let isBool = { (n: NSNumber) in n.objCType.pointee == 99 }
        guard isBool(x) == isBool(y) else { return false }
        if isBool(x) { return x.boolValue == y.boolValue }
        let isFloat = { (n: NSNumber) in n.objCType.pointee == 100 || n.objCType.pointee == 102 || n is NSDecimalNumber }
        if !isFloat(x), !isFloat(y) { return x.int64Value == y.int64Value }
        let (a, b) = (x.doubleValue, y.doubleValue)
        if exact || a == b { return a == b }
        return abs(a - b) <= 1e-12 * max(abs(a), abs(b))
    }
}

/// Stops the fuzzer with `message` when `condition` is false (a precondition's message is dropped in -O builds).
func fuzzCheck(_ condition: Bool, _ message: @autoclosure () -> String) {
    if !condition { fatalError(message()) }
}
