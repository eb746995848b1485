import LedgerCore
import Testing

@Suite("Canonical Codable coder")
struct CanonicalCoderTests {
    struct Inner: Codable, Equatable {
        var name: String
        var tags: [String]
    }

    struct Sample: Codable, Equatable {
        var id: Hash256
        var raw: [UInt8]
        var count: Int64
        var small: Int
        var height: UInt64
        var flag: Bool
        var note: String?
        var inner: Inner
        var list: [Inner]
        var hashes: [Hash256]?
    }

    static let sample = Sample(id: Hash256.sha256([1]), raw: [1, 2], count: -5, small: 7, height: 9, flag: true, note: nil,
                               inner: Inner(name: "a", tags: []), list: [Inner(name: "b", tags: ["x", "y"])], hashes: [Hash256.zero])

    static let sampleValue = CanonicalValue.map([
        "id": .bytes(Hash256.sha256([1]).bytes), "raw": .bytes([1, 2]), "count": .int(-5), "small": .int(7), "height": .int(9),
        "flag": .bool(true), "inner": .map(["name": .string("a"), "tags": .list([])]),
        "list": .list([.map(["name": .string("b"), "tags": .list([.string("x"), .string("y")])])]),
        "hashes": .list([.bytes(Hash256.zero.bytes)]),
    ])

    @Test func encodesTheDocumentedMapping() throws {
        // nil optionals are omitted; an empty [String] is a list, not bytes; hashes are bytes.
        #expect(try CanonicalEncoder().encode(Self.sample) == Self.sampleValue)
    }

    @Test func decodesWhatItEncodes() throws {
        #expect(try CanonicalDecoder().decode(Sample.self, from: Self.sampleValue) == Self.sample)
        var withNote = Self.sample
        withNote.note = "n"
        #expect(try CanonicalDecoder().decode(Sample.self, from: try CanonicalEncoder().encode(withNote)) == withNote)
    }

    func failure(_ mutate: (inout CanonicalMap) -> Void) -> CanonicalDecodingError? {
        guard case .map(var map) = Self.sampleValue else { return nil }
        mutate(&map)
        do { _ = try CanonicalDecoder().decode(Sample.self, from: .map(map)); return nil } catch { return error }
    }

    @Test func refusesUnknownMissingAndMistypedValues() {
        #expect(failure { $0["extra"] = .int(1) }?.description == "unknown argument “extra”")
        #expect(failure { $0["list"] = .list([.map(["name": .string("b"), "tags": .list([]), "x": .null])]) }?.description
            == "unknown argument “list[0].x”")
        #expect(failure { $0["count"] = nil }?.description == "“count” is required")
        #expect(failure { $0["count"] = .string("5") }?.description == "“count” must be an integer, not a string")
        #expect(failure { $0["id"] = .bytes([1]) }?.description == "“id” must be 32 bytes")
        #expect(failure { $0["height"] = .int(-1) }?.path == "height")
        #expect(failure { $0["note"] = .null }?.path == "note")
        #expect(failure { $0["inner"] = .map(["name": .int(1), "tags": .list([])]) }?.description == "“inner.name” must be a string, not an integer")
        #expect(failure { $0["list"] = .list([.map(["name": .string("b"), "tags": .list([.int(3)])])]) }?.path == "list[0].tags[0]")
    }

    @Test func refusesFloats() {
        struct Floaty: Codable { var x: Double }
        #expect(throws: CanonicalEncodingError.self) { try CanonicalEncoder().encode(Floaty(x: 1)) }
        #expect(throws: CanonicalDecodingError.self) { try CanonicalDecoder().decode(Floaty.self, from: .map(["x": .int(1)])) }
    }

    struct Checked: Codable, CanonicalValidated {
        struct TooBig: Error, CustomStringConvertible { var description: String { "too big" } }
        var n: Int64
        func validate() throws { if n > 3 { throw TooBig() } }
    }

    @Test func validatesDecodedValuesAtAnyDepthWithTheirPath() {
        #expect(throws: Never.self) { try CanonicalDecoder().decode([Checked].self, from: .list([.map(["n": .int(1)])])) }
        do {
            _ = try CanonicalDecoder().decode([Checked].self, from: .list([.map(["n": .int(1)]), .map(["n": .int(9)])]))
            Issue.record("accepted")
        } catch {
            #expect(error.path == "[1]")
            #expect(error.underlying is Checked.TooBig)
            #expect(error.description == "[1]: too big")
        }
    }

    @Test func bytesTypesUseHexInOtherCoders() throws {
        let key = IdentityKeys(seed: Array(repeating: 7, count: 32)).signingPublicKey
        #expect(try CanonicalEncoder().encode(key) == .bytes(key.rawValue))
        #expect(try CanonicalDecoder().decode(SigningPublicKey.self, from: .bytes(key.rawValue)) == key)
        #expect(throws: CanonicalDecodingError.self) { try CanonicalDecoder().decode(SigningPublicKey.self, from: .bytes([0])) }
    }
}
