import LedgerCore
import Testing

@Suite("Canonical maps: keys in UTF-8 byte order, distinct by bytes, found without hashing")
struct CanonicalMapTests {
    /// Keys chosen so that UTF-8 byte order and Swift's `<` disagree, with prefixes and repeats.
    static let alphabet: [String] = ["", "a", "ab", "b", "B", "é", "e\u{301}", "z", "日", "\u{FFFF}", "\u{1F600}", "aé", "a\u{0}"]

    @Test func utf8OrderIsByteOrder() {
        for a in Self.alphabet {
            for b in Self.alphabet {
                let bytes = Array(a.utf8).lexicographicallyPrecedes(Array(b.utf8)) ? -1 : (Array(a.utf8) == Array(b.utf8) ? 0 : 1)
                #expect(String.utf8Order(a, b) == bytes, "\(a.debugDescription) vs \(b.debugDescription)")
            }
        }
    }

    @Test(arguments: 0..<200)
    func anyOrderWithRepeatsIsTheLastValuePerKeyInByteOrder(seed: UInt64) throws {
        var rng = SplitMix64(seed: seed)
        var pairs: [(String, CanonicalValue)] = []
        // Keyed by bytes: "é" and "e\u{301}" are equal Strings but distinct keys.
        var expected: [[UInt8]: (String, CanonicalValue)] = [:]
        for i in 0..<Int.random(in: 0..<24, using: &rng) {
            let key = Self.alphabet.randomElement(using: &rng)! + (Bool.random(using: &rng) ? "" : "\(i % 3)")
            pairs.append((key, .int(Int64(i))))
            expected[Array(key.utf8)] = (key, .int(Int64(i)))
        }
        var map = CanonicalMap(pairs)
        #expect(map.count == expected.count)
        #expect(zip(map.keys, map.keys.dropFirst()).allSatisfy { String.utf8Order($0, $1) < 0 })
        for (key, value) in expected.values { #expect(map[key] == value) }
        // The same map built by inserting, and by a dictionary, is equal and encodes the same.
        var inserted = CanonicalMap()
        for (key, value) in pairs { inserted[key] = value }
        #expect(inserted == map)
        #expect(CanonicalMap(expected.values.shuffled(using: &rng)) == map)
        // Removing a key removes only it; reading back the encoding gives the map.
        if let key = expected.values.first?.0 {
            map[key] = nil
            #expect(map[key] == nil && map.count == expected.count - 1)
        }
        #expect(try CanonicalValue(decoding: CanonicalValue.map(map).encoded) == .map(map))
    }
}

@Suite("A verified transaction's decoded arguments are decoded once")
struct DecodedArgumentsTests {
    struct Refused: Error {}

    @Test func rememberedPerTypeAndOnlyOnSuccess() throws {
        let memo = DecodedArguments()
        var calls = 0
        #expect(throws: Refused.self) { try memo.get { () throws(Refused) -> Int in calls += 1; throw Refused() } }
        #expect(try memo.get { () throws(Refused) -> Int in calls += 1; return 7 } == 7)
        #expect(try memo.get { () throws(Refused) -> Int in calls += 1; return 8 } == 7)
        #expect(calls == 2)
        // Another type is decoded afresh (and then remembered instead).
        #expect(try memo.get { () throws(Refused) -> String in calls += 1; return "s" } == "s")
        #expect(calls == 3)
    }
}
