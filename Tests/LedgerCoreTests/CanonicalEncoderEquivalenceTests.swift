import LedgerCore
import Testing

/// `CanonicalEncoder.encodeBytes` writes bytes in one pass (entries in place, reordered per map by
/// a cached per-`CodingKeys` order). These properties check it against the canonical encoding of
/// the same value spelled out by hand as a `CanonicalValue` (and against `encode`, the value path),
/// over a few hundred seeded random nested values: optionals present and absent, arrays, arrays of
/// arrays, dictionaries (hash order, so never sorted), nested and recursive structs, single-value
/// wrappers, keys whose UTF-8 order differs from `String`'s `<`, containers filled out of line
/// (`nestedContainer`, `superEncoder`), repeated keys, and lists and maps of 128 or more entries
/// (a two-byte count).
@Suite("Canonical encoder: bytes path equals the canonical value")
struct CanonicalEncoderEquivalenceTests {
    // MARK: value types

    struct Wrapper: Codable, Equatable {
        var raw: String
        init(_ raw: String) { self.raw = raw }
        init(from decoder: any Decoder) throws { raw = try decoder.singleValueContainer().decode(String.self) }
        func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(raw)
        }
    }

    enum Color: String, Codable { case red, green, blue }

    struct Leaf: Codable, Equatable {
        var number: Int64
        var label: String
        var flag: Bool?
        var raw: [UInt8]
        var hash: Hash256?
        var small: Int32
        var height: UInt64
        var color: Color
        var key: SigningPublicKey?

        // Declared out of byte order on purpose: uppercase before lowercase, a non-ASCII key last
        // in bytes, a decomposed "é" that `<` puts after "f" but UTF-8 puts before.
        enum CodingKeys: String, CodingKey {
            case number = "n", label, flag = "Flag", raw = "zz", hash = "ä", small = "s_mall", height, color = "e\u{301}", key = "f"
        }
    }

    struct Node: Codable {
        var id: Int64
        var name: String?
        var leaves: [Leaf]
        var counts: [String: Int64]
        var byName: [String: Leaf]?
        var grid: [[Int64]]
        var children: [Node]
        var maybe: [Int64?]
        var wrapped: Wrapper
        var wrappers: [Wrapper]?
        var tags: [String]
        var index: Int
        var custom: Custom?
    }

    /// Encodes by hand with every container kind, out of line and interleaved, and repeated keys.
    struct Custom: Codable {
        struct AnyKey: CodingKey, ExpressibleByStringLiteral {
            let stringValue: String
            var intValue: Int? { nil }
            init(_ s: String) { stringValue = s }
            init(stringValue: String) { self.stringValue = stringValue }
            init(stringLiteral value: String) { stringValue = value }
            init?(intValue: Int) { nil }
        }

        var a: Int64
        var b: [String]
        var extra: [String: Int64]
        var repeatKey: Bool
        var useSuper: Bool

        init(a: Int64, b: [String], extra: [String: Int64], repeatKey: Bool, useSuper: Bool) {
            (self.a, self.b, self.extra, self.repeatKey, self.useSuper) = (a, b, extra, repeatKey, useSuper)
        }

        init(from decoder: any Decoder) throws { fatalError("encoding only") }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: AnyKey.self)
            try c.encode(a, forKey: "zeta")
            var inner = c.nestedContainer(keyedBy: AnyKey.self, forKey: "beta")
            var list = c.nestedUnkeyedContainer(forKey: "alpha")
            try c.encode(b, forKey: "gamma")
            try inner.encode(a &+ 1, forKey: "y")
            try inner.encode("s", forKey: "x")
            try list.encode(true)
            var inList = list.nestedContainer(keyedBy: AnyKey.self)
            try list.encode(Int64(3))
            try inList.encode("q", forKey: "k")
            try inList.encode(b, forKey: "b")
            for (key, value) in extra { try c.encode(value, forKey: AnyKey(key)) }
            // Canonically equivalent in `String` terms, different bytes: two keys.
            try c.encode(Int64(5), forKey: AnyKey("e\u{301}"))
            try c.encode(Int64(6), forKey: AnyKey("\u{E9}"))
            if useSuper {
                var single = c.superEncoder(forKey: "super").singleValueContainer()
                try single.encode(a)
            }
            if repeatKey { try c.encode("again", forKey: "zeta") }
        }

        /// What `encode(to:)` means, spelled out.
        var expected: CanonicalValue {
            var entries: [(String, CanonicalValue)] = [
                ("zeta", .int(a)),
                ("beta", .map(["y": .int(a &+ 1), "x": .string("s")])),
                ("alpha", .list([.bool(true), .map(["k": .string("q"), "b": .list(b.map { .string($0) })]), .int(3)])),
                ("gamma", .list(b.map { .string($0) })),
            ]
            for (key, value) in extra { entries.append((key, .int(value))) }
            entries.append(("e\u{301}", .int(5)))
            entries.append(("\u{E9}", .int(6)))
            if useSuper { entries.append(("super", .int(a))) }
            if repeatKey { entries.append(("zeta", .string("again"))) }
            return .map(CanonicalMap(entries))  // a repeated key: the last one counts
        }
    }

    // MARK: the canonical values, by hand

    static func expected(_ leaf: Leaf) -> CanonicalValue {
        var entries: [(String, CanonicalValue)] = [
            ("n", .int(leaf.number)), ("label", .string(leaf.label)), ("zz", .bytes(leaf.raw)), ("s_mall", .int(Int64(leaf.small))),
            ("height", .int(Int64(leaf.height))), ("e\u{301}", .string(leaf.color.rawValue)),
        ]
        if let flag = leaf.flag { entries.append(("Flag", .bool(flag))) }
        if let hash = leaf.hash { entries.append(("ä", .bytes(hash.bytes))) }
        if let key = leaf.key { entries.append(("f", .bytes(key.rawValue))) }
        return .map(CanonicalMap(entries))
    }

    static func expected(_ node: Node) -> CanonicalValue {
        var entries: [(String, CanonicalValue)] = [
            ("id", .int(node.id)),
            ("leaves", .list(node.leaves.map(expected))),
            ("counts", .map(CanonicalMap(node.counts.mapValues { CanonicalValue.int($0) }))),
            ("grid", .list(node.grid.map { .list($0.map { .int($0) }) })),
            ("children", .list(node.children.map(expected))),
            ("maybe", .list(node.maybe.map { $0.map { .int($0) } ?? .null })),
            ("wrapped", .string(node.wrapped.raw)),
            ("tags", .list(node.tags.map { .string($0) })),
            ("index", .int(Int64(node.index))),
        ]
        if let name = node.name { entries.append(("name", .string(name))) }
        if let byName = node.byName { entries.append(("byName", .map(CanonicalMap(byName.mapValues(expected))))) }
        if let wrappers = node.wrappers { entries.append(("wrappers", .list(wrappers.map { .string($0.raw) }))) }
        if let custom = node.custom { entries.append(("custom", custom.expected)) }
        return .map(CanonicalMap(entries))
    }

    // MARK: random values

    struct Generator {
        var rng: SplitMix64

        mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }
        mutating func chance(_ percent: Int) -> Bool { int(0...99) < percent }

        mutating func int64() -> Int64 {
            switch int(0...3) {
            case 0: Int64(int(-3...3))
            case 1: Int64(int(-200...200))
            case 2: Int64.random(in: .min ... .max, using: &rng)
            default: [Int64.min, Int64.max, -64, 63, 64, -65, 127, 128][int(0...7)]
            }
        }

        static let pieces = ["a", "b", "Z", "é", "e\u{301}", "f", "ä", "😀", "\u{FF61}", "_", "0", "zz", "n", "label", "id", "counts"]

        mutating func string() -> String {
            (0..<int(0...4)).map { _ in Self.pieces[int(0...(Self.pieces.count - 1))] }.joined()
        }

        mutating func leaf() -> Leaf {
            Leaf(number: int64(), label: string(), flag: chance(50) ? chance(50) : nil,
                 raw: (0..<int(0...5)).map { _ in UInt8(int(0...255)) }, hash: chance(50) ? Hash256.sha256([UInt8(int(0...255))]) : nil,
                 small: Int32(int(Int(Int32.min)...Int(Int32.max))), height: UInt64(int(0...Int.max)),
                 color: [Color.red, .green, .blue][int(0...2)],
                 key: chance(20) ? IdentityKeys(seed: Array(repeating: UInt8(int(0...255)), count: 32)).signingPublicKey : nil)
        }

        mutating func dictionary<V>(_ count: Int, _ value: (inout Generator) -> V) -> [String: V] {
            var out: [String: V] = [:]
            for _ in 0..<count { out[string()] = value(&self) }
            return out
        }

        mutating func node(depth: Int) -> Node {
            // Now and then a list and a map of 128+ entries: their count takes two bytes.
            let big = chance(5)
            return Node(
                id: int64(), name: chance(50) ? string() : nil,
                leaves: (0..<int(0...3)).map { _ in leaf() },
                counts: dictionary(big ? int(128...300) : int(0...4)) { $0.int64() },
                byName: chance(40) ? dictionary(int(0...3)) { $0.leaf() } : nil,
                grid: (0..<int(0...3)).map { _ in (0..<(big ? int(128...200) : int(0...4))).map { _ in int64() } },
                children: depth > 0 ? (0..<int(0...2)).map { _ in node(depth: depth - 1) } : [],
                maybe: (0..<int(0...4)).map { _ in chance(30) ? nil : int64() },
                wrapped: Wrapper(string()), wrappers: chance(50) ? (0..<int(0...3)).map { _ in Wrapper(string()) } : nil,
                tags: (0..<int(0...3)).map { _ in string() }, index: Int(int64()),
                custom: chance(40) ? Custom(a: int64(), b: (0..<int(0...2)).map { _ in string() }, extra: dictionary(int(0...3)) { $0.int64() },
                                            repeatKey: chance(50), useSuper: chance(50)) : nil)
        }
    }

    // MARK: properties

    @Test(arguments: 0..<300)
    func bytesEqualTheCanonicalValueEncoding(seed: UInt64) throws {
        var generator = Generator(rng: SplitMix64(seed: 0xC0DE_0000 + seed))
        let node = generator.node(depth: Int(seed % 3))
        let expected = Self.expected(node)
        let bytes = try CanonicalEncoder().encodeBytes(node)
        #expect(bytes == expected.encoded)
        #expect(try CanonicalEncoder().encode(node) == expected)
        // The bytes are canonical by the reader's rules (keys strictly increasing, minimal counts).
        let limits = CanonicalLimits(lengthBytesMax: 1 << 20, countMax: 1 << 16, depthMax: 64)
        #expect(try CanonicalValue(decoding: bytes, limits: limits) == expected)
        // Top-level arrays and dictionaries of structs, and a second encoding of the same value
        // (the key order is cached by then).
        #expect(try CanonicalEncoder().encodeBytes(node.leaves) == CanonicalValue.list(node.leaves.map(Self.expected)).encoded)
        #expect(try CanonicalEncoder().encodeBytes(node.counts) == CanonicalValue.map(CanonicalMap(node.counts.mapValues { .int($0) })).encoded)
        #expect(try CanonicalEncoder().encodeBytes(node) == bytes)
    }

    @Test func topLevelValuesTheCoderWritesItself() throws {
        let hash = Hash256.sha256([1, 2, 3])
        let key = IdentityKeys(seed: Array(repeating: 9, count: 32)).signingPublicKey
        #expect(try CanonicalEncoder().encodeBytes(hash) == CanonicalValue.bytes(hash.bytes).encoded)
        #expect(try CanonicalEncoder().encodeBytes(key) == CanonicalValue.bytes(key.rawValue).encoded)
        #expect(try CanonicalEncoder().encodeBytes([UInt8]([4, 5])) == CanonicalValue.bytes([4, 5]).encoded)
        #expect(try CanonicalEncoder().encodeBytes([String]()) == CanonicalValue.list([]).encoded)
        #expect(try CanonicalEncoder().encodeBytes(Int64(-7)) == CanonicalValue.int(-7).encoded)
        #expect(try CanonicalEncoder().encodeBytes("x") == CanonicalValue.string("x").encoded)
        #expect(try CanonicalEncoder().encodeBytes(Wrapper("w")) == CanonicalValue.string("w").encoded)
        #expect(try CanonicalEncoder().encodeBytes(Optional<Int64>.none) == CanonicalValue.null.encoded)
    }

    @Test func refusalsNameTheSamePathAsTheValuePath() {
        struct Big: Codable { var height: UInt64 }
        struct Floaty: Codable { var x: Double }
        struct Holder: Codable {
            var items: [Big]
            var byName: [String: Big]
            var floats: [Floaty]?
        }
        func both(_ value: Holder) -> (String?, String?) {
            let bytes: String?, tree: String?
            do { _ = try CanonicalEncoder().encodeBytes(value); bytes = nil } catch { bytes = error.description }
            do { _ = try CanonicalEncoder().encode(value); tree = nil } catch { tree = error.description }
            return (bytes, tree)
        }
        let tooBig = both(Holder(items: [Big(height: 1), Big(height: .max)], byName: [:]))
        #expect(tooBig.0 == "items[1].height: 18446744073709551615 does not fit a signed 64-bit integer")
        #expect(tooBig.0 == tooBig.1)
        let inMap = both(Holder(items: [], byName: ["k": Big(height: .max)]))
        #expect(inMap.0 == "byName.k.height: 18446744073709551615 does not fit a signed 64-bit integer")
        #expect(inMap.0 == inMap.1)
        let float = both(Holder(items: [], byName: [:], floats: [Floaty(x: 1)]))
        #expect(float.0 == "floats[0].x: the canonical encoding has no floats")
        #expect(float.0 == float.1)
    }
}
