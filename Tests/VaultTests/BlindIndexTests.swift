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

    @Test func tokensArePrefixesKeyedByKeyAndField() {
        let indexer = BlindIndexer(key: Self.key)
        let tokens = indexer.tokens(field: .name, value: "Smith")
        #expect(tokens.count == 3, "smi, smit, smith")
        #expect(tokens.contains(indexer.queryToken(field: .name, query: "SMI")!))
        #expect(tokens == indexer.tokens(field: .name, value: "smith"))
        #expect(tokens.isDisjoint(with: BlindIndexer(key: Self.otherKey).tokens(field: .name, value: "Smith")))
        #expect(tokens.isDisjoint(with: indexer.tokens(field: .address, value: "Smith")))
        #expect(indexer.queryToken(field: .name, query: "sm") == nil)
        for token in tokens { #expect(!token.bytes.containsSubsequence(Array("smi".utf8))) }
    }

    @Test func extractsIdentifiersAndValuesButNoFreeText() throws {
        let patient = Array("""
        {"resourceType":"Patient","name":[{"family":"Doe","given":["Jane","Q"]}],"identifier":[{"value":"MRN-1"}],
         "telecom":[{"system":"phone","value":"555-0100"}],"address":[{"line":["1 Main St"],"city":"Springfield","postalCode":"01101"}],
         "birthDate":"1970-01-01","gender":"female","text":{"div":"<div>Jane Doe</div>"}}
        """.utf8)
        let fields = try FHIRIdentifierExtractor.extract(patient)
        #expect(fields.resourceType == "Patient")
        #expect(fields.identifiers.map(\.value).sorted() == ["01101", "1 Main St", "555-0100", "Doe", "Jane", "MRN-1", "Q", "Springfield"])
        #expect(Set(fields.values) == [IndexedValue(param: "birthDate", value: "1970-01-01"), IndexedValue(param: "gender", value: "female")])

        let observation = Array("""
        {"resourceType":"Observation","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"4548-4"}]},
         "effectiveDateTime":"2026-01-02","valueQuantity":{"value":6.1},"note":[{"text":"secret remark"}],"valueString":"hidden"}
        """.utf8)
        let obs = try FHIRIdentifierExtractor.extract(observation)
        #expect(obs.identifiers.isEmpty)
        #expect(Set(obs.values) == [IndexedValue(param: "status", value: "final"), IndexedValue(param: "code", value: "http://loinc.org|4548-4"),
                                    IndexedValue(param: "effectiveDateTime", value: "2026-01-02")])
        #expect(throws: VaultError.self) { try FHIRIdentifierExtractor.extract(Array("{\"id\":\"x\"}".utf8)) }
        #expect(throws: VaultError.self) { try FHIRIdentifierExtractor.extract(Array("not json".utf8)) }
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
