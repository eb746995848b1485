import Crypto
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
