import Crypto
import Foundation
import LedgerCore
import Testing
import Vault

@Suite("Blind index and FHIR field extraction")
struct BlindIndexTests {
    static let key = try! BlindIndexKey(secret: Array(repeating: 42, count: 32))
    static let otherKey = try! BlindIndexKey(secret: Array(repeating: 43, count: 32))

    @Test("Normalization", arguments: [
        ("Müller-Lüdenscheidt", IdentifierField.name, ["muller", "ludenscheidt"]),
        ("  José  O'Brien ", .name, ["jose", "o", "brien"]),
        ("+1 (555) 010-2000", .telecom, ["15550102000"]),
        ("MRN-00123", .identifier, ["mrn00123"]),
        ("12 Orchard Lane", .address, ["12", "orchard", "lane"]),
        ("---", .identifier, []),
    ])
    func normalization(_ input: String, _ field: IdentifierField, _ expected: [String]) {
        #expect(BlindIndexer.normalize(input, field: field) == expected)
    }

    /// ASCII is folded byte by byte, not through Foundation: the words must be the same, for any ASCII text.
    @Test func asciiWordsFoldAsFoundationFoldsThem() {
        var random = SplitMix64(seed: 0xF01D)
        let alphabet = Array("aZ09 -_.,|/:\t\n\r'\"()+@#~^AbCyz".utf8) + (0..<128).map { UInt8($0) }
        for round in 0..<2_000 {
            let length = Int(random.next() % 40)
            let text = String(decoding: (0..<length).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] }, as: UTF8.self)
            let foundation = text.folding(options: [.caseInsensitive, .diacriticInsensitive], locale: nil)
                .split(whereSeparator: { !($0.isLetter || $0.isNumber) }).map { String($0.prefix(BlindIndexer.tokenCharactersMax)) }
            #expect(BlindIndexer.normalize(text) == foundation, "round \(round): \(Array(text.utf8))")
        }
        #expect(BlindIndexer.normalize("Ünïcode Ärzte") == ["unicode", "arzte"], "not ASCII: still Foundation's folding")
        #expect(BlindIndexer.systemQualified(system: " urn:x ", value: "A-1") == BlindIndexer.systemQualified(system: "urn:x", value: "a1"))
    }

    @Test func tokensArePrefixesKeyedByKeyFieldAndParameter() {
        let indexer = BlindIndexer(key: Self.key)
        let tokens = indexer.tokens(field: .name, value: "Smith")
        #expect(tokens.count == 8, "smi, smit, smith; the value as written; trigrams smi, mit, ith; name present")
        #expect(tokens.contains(indexer.queryTokens(field: .name, query: "Smith", match: .exact)[0]))
        #expect(!tokens.contains(indexer.queryTokens(field: .name, query: "SMITH", match: .exact)[0]), ":exact is case-sensitive")
        #expect(!indexer.tokens(field: .name, value: "Smithson").contains(indexer.queryTokens(field: .name, query: "Smith", match: .exact)[0]))
        #expect(Set(indexer.queryTokens(field: .name, query: "MIT", match: .contains)).isSubset(of: tokens))
        #expect(!Set(indexer.queryTokens(field: .name, query: "smx", match: .contains)).isSubset(of: tokens))
        #expect(tokens.contains(indexer.presenceToken(field: .name)))
        #expect(tokens.contains(indexer.queryToken(field: .name, query: "SMI")!))
        #expect(tokens.subtracting([indexer.queryTokens(field: .name, query: "Smith", match: .exact)[0]])
                == indexer.tokens(field: .name, value: "smith").subtracting([indexer.queryTokens(field: .name, query: "smith", match: .exact)[0]]))
        #expect(tokens.isDisjoint(with: BlindIndexer(key: Self.otherKey).tokens(field: .name, value: "Smith")))
        #expect(tokens.isDisjoint(with: indexer.tokens(field: .address, value: "Smith")))
        #expect(tokens.isDisjoint(with: indexer.tokens(field: .name, value: "Smith", scope: "family")), "each search parameter has its own tokens")
        #expect(indexer.queryToken(field: .name, query: "sm").map { tokens.contains($0) } == false, "a short word matches only that whole word")
        #expect(indexer.queryTokens(field: .name, query: "sm", match: .contains).isEmpty, ":contains needs 3 characters")
        for token in tokens { #expect(!token.bytes.containsSubsequence(Array("smi".utf8))) }
    }

    @Test func memoryBlobStore() throws {
        let store = MemoryBlobStore()
        let sealed = try RecordCipher.seal([1, 2, 3], with: .generate(), record: .zero, version: 1)
        #expect(try store.putBlob(sealed) == sealed.hash)
        #expect(try store.blob(sealed.hash) == sealed)
        try store.deleteBlob(sealed.hash)
        #expect(try store.blob(sealed.hash) == nil)
    }
}

extension Array where Element == UInt8 {
    func containsSubsequence(_ needle: [UInt8]) -> Bool {
        guard needle.count <= count else { return false }
        return (0...(count - needle.count)).contains { Array(self[$0..<$0 + needle.count]) == needle }
    }
}
