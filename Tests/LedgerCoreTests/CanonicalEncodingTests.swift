import Foundation
import LedgerCore
import Testing


@Suite("Canonical encoding")
struct CanonicalEncodingTests {
    static var vectors: [String: Any] {
        let url = Bundle.module.url(forResource: "Vectors", withExtension: nil)!.appendingPathComponent("canonical/canonical-vectors.json")
        return try! JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
    }

    /// Builds a value from the vector file's {"t": type, "v": value} description.
    static func value(_ description: Any) -> CanonicalValue {
        let d = description as! [String: Any]
        switch d["t"] as! String {
        case "null": return .null
        case "bool": return .bool(d["v"] as! Bool)
        case "int": return .int((d["v"] as! NSNumber).int64Value)
        case "bytes": return .bytes(Hex.decode(d["v"] as! String)!)
        case "string": return .string(d["v"] as! String)
        case "list": return .list((d["v"] as! [Any]).map(value))
        case "map": return .map(CanonicalMap((d["v"] as! [String: Any]).mapValues(value)))
        default: fatalError("unknown vector type")
        }
    }

    static func caseName(_ error: CanonicalError) -> String {
        switch error {
        case .truncated: "truncated"
        case .trailingBytes: "trailingBytes"
        case .unknownTag: "unknownTag"
        case .nonMinimalVarint: "nonMinimalVarint"
        case .lengthTooLarge: "lengthTooLarge"
        case .invalidUTF8: "invalidUTF8"
        case .unsortedMapKeys: "unsortedMapKeys"
        case .tooDeep: "tooDeep"
        case .unexpected: "unexpected"
        }
    }

    @Test func validVectorsEncodeAndDecode() throws {
        let valid = Self.vectors["valid"] as! [[String: Any]]
        #expect(valid.count == 23)
        for vector in valid {
            let value = Self.value(vector["value"]!)
            let hex = vector["hex"] as! String
            #expect(Hex.encode(value.encoded) == hex, "\(vector["name"]!)")
            #expect(try CanonicalValue(decoding: Hex.decode(hex)!) == value, "\(vector["name"]!)")
        }
    }

    @Test func invalidVectorsAreRejectedWithTheirReason() {
        let invalid = Self.vectors["invalid"] as! [[String: Any]]
        #expect(invalid.count == 22)
        for vector in invalid {
            do {
                _ = try CanonicalValue(decoding: Hex.decode(vector["hex"] as! String)!)
                Issue.record("\(vector["name"]!) was accepted")
            } catch {
                #expect(Self.caseName(error) == vector["error"] as! String, "\(vector["name"]!): \(error)")
            }
        }
    }

    static func randomValue(_ rng: inout SplitMix64, depth: Int = 0) -> CanonicalValue {
        switch Int.random(in: 0..<(depth > 3 ? 5 : 7), using: &rng) {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &rng))
        case 2: return .int(Int64(bitPattern: rng.next()) >> Int64.random(in: 0..<63, using: &rng))
        case 3: return .bytes((0..<Int.random(in: 0..<40, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) })
        case 4: return .string(String((0..<Int.random(in: 0..<12, using: &rng)).map { _ in "aZé日0 -".randomElement(using: &rng)! }))
        case 5: return .list((0..<Int.random(in: 0..<5, using: &rng)).map { _ in randomValue(&rng, depth: depth + 1) })
        default:
            var map: CanonicalMap = [:]
            for _ in 0..<Int.random(in: 0..<5, using: &rng) { map["k\(Int.random(in: 0..<20, using: &rng))é"] = randomValue(&rng, depth: depth + 1) }
            return .map(map)
        }
    }

    @Test(arguments: [1, 2, 3, 4] as [UInt64])
    func randomValuesRoundTripAndEveryTruncationFails(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        for _ in 0..<200 {
            let value = Self.randomValue(&rng)
            let bytes = value.encoded
            #expect(try CanonicalValue(decoding: bytes) == value, "seed \(seed)")
            #expect(CanonicalValue(try CanonicalValue(decoding: bytes)).encoded == bytes)
            for length in 0..<bytes.count {
                #expect(throws: CanonicalError.self, "seed \(seed) truncated to \(length)") { try CanonicalValue(decoding: Array(bytes.prefix(length))) }
            }
            #expect(throws: CanonicalError.self) { try CanonicalValue(decoding: bytes + [0]) }
        }
    }
}

extension CanonicalValue {
    init(_ other: CanonicalValue) { self = other }
}
