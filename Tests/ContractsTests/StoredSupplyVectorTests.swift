import Foundation
import LedgerCore
import Testing
@testable import Contracts

/// The supply, prescription and telehealth state derives its canonical form from `Codable`
/// (`StoredValue`). Chains already hold values written by the hand-written coders it replaced, and
/// replay needs the same bytes: every such value in `Vectors/stored-state.tsv` (written by the old
/// code) must decode with the new code and re-encode to exactly the bytes it was read from.
@Suite struct StoredSupplyVectorTests {
    /// One stored value: its state key and its canonical bytes.
    struct Vector: CustomStringConvertible {
        let key: String
        let bytes: [UInt8]
        var description: String { key }
    }

    /// A key prefix and how to round-trip a value stored under it: decode with the new code,
    /// re-encode; nil when the bytes do not decode.
    struct Row: Sendable {
        let prefix: String
        let roundTrip: @Sendable ([UInt8]) throws -> [UInt8]?

        init<T: StoredValue>(_ prefix: String, _: T.Type) {
            self.prefix = prefix
            roundTrip = { bytes in
                guard let value = T.decode(bytes) else { return nil }
                // How state is written (bytes straight from the coder), checked against the value's encoding.
                let written = try CanonicalEncoder().encodeBytes(value)
                return written == (try CanonicalEncoder().encode(value).encoded) ? written : []
            }
        }
    }

    /// The key namespaces this suite covers: every key under them must match a row or a skip.
    static let namespaces = ["supply/", "rx/", "telehealth/"]

    static let rows: [Row] = [
        Row("supply/product/", SupplyProduct.self),
        Row("supply/lot/", SupplyLot.self),
        Row("supply/unit/", SupplyUnit.self),
        Row("supply/case/", SupplyCase.self),
        Row("supply/verification/", VerificationRecord.self),
        Row("supply/incidents/serial/", SerialIncidents.self),
        Row("rx/prescription/", Prescription.self),
        Row("rx/fill/", PrescriptionFill.self),
        Row("telehealth/session/", TelehealthSession.self),
    ]

    /// Keys whose values are no struct, with what they hold instead.
    static let skipped: [String: String] = [
        "supply/incidents/org/": "a bare .int (an organization's incident count) or, under …/<index>, a bare .bytes incident id",
    ]

    static func vectors() throws -> [Vector] {
        let url = Bundle.module.url(forResource: "Vectors", withExtension: nil)!.appendingPathComponent("stored-state.tsv")
        let text = try String(contentsOf: url, encoding: .utf8)
        return try text.split(separator: "\n").filter { !$0.isEmpty }.map { line in
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            let hex = fields.count == 2 ? Hex.decode(String(fields[1])) : nil
            guard let bytes = hex else { throw VectorFileError(line: String(line.prefix(120))) }
            return Vector(key: String(fields[0]), bytes: bytes)
        }
    }

    struct VectorFileError: Error, CustomStringConvertible {
        let line: String
        var description: String { "not “key<TAB>hex”: \(line)" }
    }

    /// The row for a key: the longest matching prefix.
    static func row(for key: String) -> Row? {
        rows.filter { key.hasPrefix($0.prefix) }.max { $0.prefix.count < $1.prefix.count }
    }

    static var covered: [Vector] {
        get throws { try vectors().filter { vector in namespaces.contains { vector.key.hasPrefix($0) } } }
    }

    @Test func everyKeyHasARowOrIsSkipped() throws {
        let vectors = try Self.covered
        #expect(!vectors.isEmpty)
        for vector in vectors {
            let isSkipped = Self.skipped.keys.contains { vector.key.hasPrefix($0) }
            #expect(Self.row(for: vector.key) != nil || isSkipped, "no row and no skip entry for \(vector.key)")
        }
        for row in Self.rows {
            #expect(vectors.contains { Self.row(for: $0.key)?.prefix == row.prefix }, "no vector for the row \(row.prefix)")
        }
    }

    @Test(arguments: try covered.filter { row(for: $0.key) != nil })
    func roundTripIsByteIdentical(_ vector: Vector) throws {
        let row = try #require(Self.row(for: vector.key))
        let stored = try CanonicalValue(decoding: vector.bytes)
        #expect(stored.encoded == vector.bytes, "the vector itself is not canonical")
        let reencoded = try #require(try row.roundTrip(vector.bytes), "\(vector.key) does not decode: \(stored)")
        #expect(reencoded == vector.bytes,
                "\(vector.key): stored \(stored), re-encoded \((try? CanonicalValue(decoding: reencoded)).map { "\($0)" } ?? "?")")
    }

    /// The vectors hold no unit packed in a case or in transit, so the unit's optional keys (one of
    /// them renamed: `caseSSCC` is stored as "case") are checked against the map the old coder wrote.
    @Test func unitWithEveryOptionalKeyEncodesAsTheOldCoderDid() throws {
        let (a, b, c) = (Hash256(bytes: Array(repeating: 1, count: 32))!, Hash256(bytes: Array(repeating: 2, count: 32))!,
                         Hash256(bytes: Array(repeating: 3, count: 32))!)
        let sgtin = SGTIN(gtin: "00312345678906", serial: "S1")
        var unit = SupplyUnit(sgtin: sgtin, lot: "L1", expiryMs: 9_000, manufacturer: a, owner: b, status: .shipped, custody: [
            CustodyEvent(kind: .commissioned, from: nil, to: a, detail: "L1", height: 3, timeMs: 1_000),
            CustodyEvent(kind: .shipped, from: a, to: c, height: 4, timeMs: 2_000),
        ])
        unit.caseSSCC = "000312345900000081"
        unit.pendingRecipient = c
        unit.shipper = b
        let old: CanonicalValue = .map([
            "lot": .string("L1"), "expiryMs": .int(9_000), "manufacturer": .bytes(a.bytes), "owner": .bytes(b.bytes), "status": .string("shipped"),
            "custody": .list([
                .map(["kind": .string("commissioned"), "height": .int(3), "timeMs": .int(1_000), "to": .bytes(a.bytes), "detail": .string("L1")]),
                .map(["kind": .string("shipped"), "height": .int(4), "timeMs": .int(2_000), "from": .bytes(a.bytes), "to": .bytes(c.bytes)]),
            ]),
            "case": .string("000312345900000081"), "pendingRecipient": .bytes(c.bytes), "shipper": .bytes(b.bytes),
        ])
        #expect(try CanonicalEncoder().encode(unit) == old)
        let decoded = try #require(SupplyUnit.decode(old.encoded) { $0.sgtin = sgtin })
        #expect(decoded == unit)
    }
}
