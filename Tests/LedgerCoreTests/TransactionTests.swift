import Foundation
import LedgerCore
import Testing

@Suite("Transactions and blocks")
struct TransactionTests {
    static let keys = IdentityKeys(seed: Array(repeating: 21, count: 32))

    /// A body with placeholder names and arguments: below the contracts, a call is opaque.
    static func body(sequence: UInt64 = 1, contract: String = "test-contract", chainId: String = "c") -> TransactionBody {
        TransactionBody(chainId: chainId, sender: keys.derivedID, publicKey: keys.signingPublicKey, sequence: sequence,
                        contract: contract, method: "test-method", args: .map(["value": .bytes(Array(repeating: 7, count: 32))]), expiryHeight: 9)
    }

    @Test func signDecodeRoundTripKeepsBytesAndId() throws {
        let tx = Transaction.sign(Self.body(), with: Self.keys)
        let decoded = try Transaction(decoding: tx.bytes)
        #expect(decoded == tx)
        #expect(decoded.id == Hash256.sha256(domain: "careledger/tx/v1", tx.bytes))
        #expect(decoded.body.expiryHeight == 9)
        _ = try VerifiedTransaction.verify(decoded)
    }

    @Test func decodingRejectsBadInput() throws {
        let tx = Transaction.sign(Self.body(), with: Self.keys)
        #expect(throws: TransactionError.tooLarge(bytes: Limits.transactionBytesMax + 1, max: Limits.transactionBytesMax)) {
            try Transaction(decoding: [UInt8](repeating: 0, count: Limits.transactionBytesMax + 1))
        }
        for length in [0, 1, 10, tx.bytes.count / 2, tx.bytes.count - 1] {
            #expect(throws: TransactionError.self) { try Transaction(decoding: Array(tx.bytes.prefix(length))) }
        }
        #expect(throws: TransactionError.self) { try Transaction(decoding: tx.bytes + [0]) }
        var version = tx.bytes
        version[0] = 2
        #expect(throws: TransactionError.unsupportedVersion(2)) { try Transaction(decoding: version) }
        let zero = Transaction.sign(Self.body(sequence: 0), with: Self.keys)
        #expect(throws: TransactionError.fieldOutOfRange("sequence numbers start at 1")) { try Transaction(decoding: zero.bytes) }
        let empty = Transaction.sign(Self.body(contract: ""), with: Self.keys)
        #expect(throws: TransactionError.self) { try Transaction(decoding: empty.bytes) }
    }

    @Test func everySingleByteFlipIsCaught() {
        let tx = Transaction.sign(Self.body(), with: Self.keys)
        for position in tx.bytes.indices {
            var bytes = tx.bytes
            bytes[position] ^= 0x01
            if let decoded = try? Transaction(decoding: bytes) {
                #expect(!decoded.verifySignature(), "flip at byte \(position) still verifies")
            }
        }
    }

    @Test func signatureByAnotherKeyFails() throws {
        let other = IdentityKeys(seed: Array(repeating: 22, count: 32))
        var body = Self.body()
        body.publicKey = other.signingPublicKey
        let forged = Transaction.sign(body, with: other)
        // Re-encode with the first key's public key but the other key's signature.
        var writer = CanonicalWriter()
        writer.write(versionByte: 1)
        let reencoded = Array(forged.bytes[0..<forged.bodyLength])
        var swapped = reencoded
        let keyStart = try #require(Self.find(other.signingPublicKey.rawValue, in: swapped))
        swapped.replaceSubrange(keyStart..<keyStart + 32, with: Self.keys.signingPublicKey.rawValue)
        writer = CanonicalWriter()
        writer.write(bytes: forged.signature)
        let tx = try Transaction(decoding: swapped + writer.bytes)
        #expect(throws: TransactionError.badSignature) { try VerifiedTransaction.verify(tx) }
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        return (0...(haystack.count - needle.count)).first { Array(haystack[$0..<$0 + needle.count]) == needle }
    }

    @Test func headerRoundTrip() throws {
        let header = BlockHeader(chainId: "c", height: 3, previousHash: .sha256([1]), timeMs: 1_700_000_000_123, transactionCount: 2,
                                 transactionsRoot: .sha256([2]), logSize: 10, logRoot: .sha256([3]), resultsRoot: .sha256([4]),
                                 stateRoot: .sha256([5]), ordererKey: Self.keys.signingPublicKey)
        #expect(try BlockHeader(decoding: header.encoded) == header)
        #expect(throws: CanonicalError.self) { try BlockHeader(decoding: header.encoded + [0]) }
        #expect(throws: CanonicalError.self) { try BlockHeader(decoding: Array(header.encoded.dropLast())) }
    }
}
