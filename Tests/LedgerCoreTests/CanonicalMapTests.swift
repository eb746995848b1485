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

@Suite("Decoding from bytes accepts and refuses exactly what decoding the value tree does")
struct CanonicalByteDecoderTests {
    typealias Sample = CanonicalCoderTests.Sample

    /// Both ways: from the bytes directly, and from the `CanonicalValue` read from them.
    static func both(_ bytes: [UInt8]) -> (direct: Result<Sample, CanonicalDecodingError>, tree: Result<Sample, CanonicalDecodingError>) {
        let direct = Result { () throws(CanonicalDecodingError) in try CanonicalDecoder().decode(Sample.self, fromBytes: bytes) }
        let tree = Result { () throws(CanonicalDecodingError) -> Sample in
            let value: CanonicalValue
            do { value = try CanonicalValue(decoding: bytes) } catch { throw CanonicalDecodingError(path: "", problem: .invalid(error)) }
            return try CanonicalDecoder().decode(Sample.self, from: value)
        }
        return (direct, tree)
    }

    @Test func theSampleDecodesTheSameBothWays() throws {
        var withNote = CanonicalCoderTests.sample
        withNote.note = "é ok"
        for sample in [CanonicalCoderTests.sample, withNote] {
            let bytes = try CanonicalEncoder().encodeBytes(sample)
            #expect(try CanonicalDecoder().decode(Sample.self, fromBytes: bytes) == sample)
        }
    }

    /// Every single-byte change, insertion and deletion of the sample's bytes: the two decoders agree on
    /// whether it decodes and, when it does, on the value (an unknown key, a missing key, a wrong type,
    /// a non-canonical encoding, a truncation each refused by both).
    @Test func everyMutationIsJudgedAlike() throws {
        var withNote = CanonicalCoderTests.sample
        withNote.note = "n"
        let original = try CanonicalEncoder().encodeBytes(withNote)
        var mutants: [[UInt8]] = []
        for i in original.indices {
            for delta: UInt8 in [1, 0x80, 0xff] {
                var m = original
                m[i] &+= delta
                mutants.append(m)
            }
            var cut = original
            cut.remove(at: i)
            mutants.append(cut)
            var grown = original
            grown.insert(0, at: i)
            mutants.append(grown)
        }
        var decodedSomewhere = 0
        for mutant in mutants {
            let (direct, tree) = Self.both(mutant)
            switch (direct, tree) {
            case (.success(let a), .success(let b)):
                #expect(a == b)
                decodedSomewhere += 1
            case (.failure, .failure): break
            default: Issue.record("bytes \(Hex.encode(mutant)): direct \(direct), tree \(tree)")
            }
        }
        // Some mutants still decode (a changed hash byte, count or letter): the comparison means something.
        #expect(decodedSomewhere > 10)
    }

    @Test func anUnknownKeyIsNamed() throws {
        guard case .map(var map) = CanonicalCoderTests.sampleValue else { return }
        map["extra"] = .int(1)
        #expect(throws: CanonicalDecodingError.self) { try CanonicalDecoder().decode(Sample.self, fromBytes: CanonicalValue.map(map).encoded) }
        do { _ = try CanonicalDecoder().decode(Sample.self, fromBytes: CanonicalValue.map(map).encoded) } catch {
            #expect(error.path == "extra")
        }
    }
}
