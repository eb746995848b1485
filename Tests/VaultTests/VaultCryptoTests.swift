import Crypto
import Foundation
import LedgerCore
import Testing
import Vault

@Suite("Record encryption and HPKE key wrapping")
struct VaultCryptoTests {
    static let record = Hash256.sha256(Array("record-1".utf8))
    static let patient = IdentityKeys(seed: Array(repeating: 7, count: 32))
    static let other = IdentityKeys(seed: Array(repeating: 8, count: 32))

    @Test("AES-256-GCM round trip", arguments: [0, 1, 100 * 1024])
    func roundTrip(size: Int) throws {
        let plaintext = (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let key = DataKey.generate()
        let sealed = try RecordCipher.seal(plaintext, with: key, record: Self.record, version: 1)
        #expect(sealed.bytes.count == plaintext.count + 29)
        #expect(try RecordCipher.open(sealed, with: key, record: Self.record, version: 1) == plaintext)
        #expect(try RecordCipher.seal(plaintext, with: key, record: Self.record, version: 1) != sealed, "nonces are fresh")
    }

    /// Positions to flip: format byte excluded (that is a layout error), nonce, ciphertext, tag.
    @Test("A flipped bit anywhere fails authentication", arguments: [1, 12, 13, 20, 40])
    func tamper(position: Int) throws {
        let key = DataKey.generate()
        var bytes = try RecordCipher.seal(Array(repeating: 65, count: 24), with: key, record: Self.record, version: 1).bytes
        bytes[min(position, bytes.count - 1)] ^= 0x01
        #expect(throws: VaultError.self) { try RecordCipher.open(try SealedRecord(bytes: bytes), with: key, record: Self.record, version: 1) }
    }

    @Test func wrongKeyRecordOrVersionFail() throws {
        let key = DataKey.generate()
        let sealed = try RecordCipher.seal(Array("x".utf8), with: key, record: Self.record, version: 1)
        let other = Hash256.sha256(Array("record-2".utf8))
        for (k, r, v) in [(DataKey.generate(), Self.record, UInt64(1)), (key, other, 1), (key, Self.record, 2)] {
            do {
                _ = try RecordCipher.open(sealed, with: k, record: r, version: v)
                Issue.record("opened with a wrong binding")
            } catch {
                guard case .authenticationFailed = error else { Issue.record("unexpected \(error)"); continue }
                #expect(error.description.contains("tampered"))
            }
        }
    }

    @Test func layoutAndSizeErrors() throws {
        #expect(throws: VaultError.self) { try SealedRecord(bytes: [1, 2, 3]) }
        #expect(throws: VaultError.self) { try SealedRecord(bytes: [9] + Array(repeating: 0, count: 40)) }
        #expect(throws: VaultError.tooLarge(what: "record content", bytes: RecordCipher.plaintextBytesMax + 1, max: RecordCipher.plaintextBytesMax)) {
            try RecordCipher.seal(Array(repeating: 0, count: RecordCipher.plaintextBytesMax + 1), with: .generate(), record: Self.record, version: 1)
        }
        #expect(throws: VaultError.self) { try DataKey(rawBytes: [1, 2]) }
    }

    @Test func hpkeRoundTripAndBindings() throws {
        let key = DataKey.generate()
        let context = WrapContext(record: Self.record, version: 3, recipient: Self.patient.derivedID)
        let wrapped = try KeyWrap.wrap(key, to: Self.patient.agreementPublicKey, context: context)
        #expect(wrapped.bytes.count == 81)
        #expect(try WrappedKey(bytes: wrapped.bytes) == wrapped)
        #expect(try KeyWrap.unwrap(wrapped, with: Self.patient.agreement, context: context).rawBytes == key.rawBytes)

        let mismatched = [
            WrapContext(record: Hash256.sha256([1]), version: 3, recipient: Self.patient.derivedID),
            WrapContext(record: Self.record, version: 4, recipient: Self.patient.derivedID),
            WrapContext(record: Self.record, version: 3, recipient: Self.other.derivedID),
        ]
        for bad in mismatched {
            #expect(throws: VaultError.self) { try KeyWrap.unwrap(wrapped, with: Self.patient.agreement, context: bad) }
        }
        #expect(throws: VaultError.self) { try KeyWrap.unwrap(wrapped, with: Self.other.agreement, context: context) }
        for position in [1, 40, 80] {
            var bytes = wrapped.bytes
            bytes[position] ^= 0x01
            #expect(throws: VaultError.self) { try KeyWrap.unwrap(try WrappedKey(bytes: bytes), with: Self.patient.agreement, context: context) }
        }
        #expect(throws: VaultError.self) { try KeyWrap.wrap(key, to: Array(repeating: 1, count: 31), context: context) }
        #expect(throws: VaultError.self) { try WrappedKey(bytes: Array(wrapped.bytes.dropLast())) }
    }

    @Test func patientKeyWrapsDataKeysBoundToKeyRecordAndVersion() throws {
        let patientKey = PatientKey.generate()
        let dataKey = DataKey.generate()
        let wrapped = try patientKey.wrap(dataKey, record: Self.record, version: 2)
        #expect(wrapped.bytes.count == 93 && wrapped.bytes[0] == 2 && wrapped.patientKey == patientKey.id)
        #expect(try WrappedDataKey(bytes: wrapped.bytes) == wrapped)
        #expect(try patientKey.unwrap(wrapped, record: Self.record, version: 2).rawBytes == dataKey.rawBytes)
        #expect(try patientKey.wrap(dataKey, record: Self.record, version: 2) != wrapped, "nonces are fresh")
        for (record, version) in [(Hash256.sha256([1]), UInt64(2)), (Self.record, 3)] {
            #expect(throws: VaultError.self) { try patientKey.unwrap(wrapped, record: record, version: version) }
        }
        // Another patient key, even one claiming the same id in the wrapped bytes, does not open it.
        #expect(throws: VaultError.self) { try PatientKey.generate().unwrap(wrapped, record: Self.record, version: 2) }
        for position in [1, 33, 50, 92] {
            var bytes = wrapped.bytes
            bytes[position] ^= 0x01
            #expect(throws: VaultError.self) { try patientKey.unwrap(try WrappedDataKey(bytes: bytes), record: Self.record, version: 2) }
        }
        #expect(throws: VaultError.self) { try WrappedDataKey(bytes: Array(wrapped.bytes.dropLast())) }
        #expect(throws: VaultError.self) { try WrappedDataKey(bytes: [1] + wrapped.bytes.dropFirst()) }
    }

    @Test func patientKeyCopiesOpenOnlyForTheirRecipientAndAsPatientKeys() throws {
        let patientKey = PatientKey.generate()
        let copy = try patientKey.wrap(to: Self.patient.agreementPublicKey, recipient: Self.patient.derivedID)
        let opened = try PatientKey.unwrap(copy, id: patientKey.id, with: Self.patient.agreement, recipient: Self.patient.derivedID)
        let dataKey = DataKey.generate()
        #expect(try opened.unwrap(patientKey.wrap(dataKey, record: Self.record, version: 1), record: Self.record, version: 1).rawBytes == dataKey.rawBytes)
        #expect(throws: VaultError.self) {
            try PatientKey.unwrap(copy, id: patientKey.id, with: Self.other.agreement, recipient: Self.patient.derivedID)
        }
        #expect(throws: VaultError.self) {
            try PatientKey.unwrap(copy, id: Hash256.sha256([9]), with: Self.patient.agreement, recipient: Self.patient.derivedID)
        }
        // A patient-key copy is not a record's wrapped data key, even for a record id equal to the key id.
        #expect(throws: VaultError.self) {
            try KeyWrap.unwrap(copy, with: Self.patient.agreement, context: WrapContext(record: patientKey.id, version: 0, recipient: Self.patient.derivedID))
        }
    }
}

@Suite("Passphrase-sealed secrets")
struct PassphraseSealTests {
    @Test func roundTripWrongPassphraseAndTamper() throws {
        let secret = Array(0..<64).map { UInt8($0) }
        let sealed = try PassphraseSeal.seal(secret, passphrase: "correct horse", cost: .testing)
        #expect(try PassphraseSeal.open(sealed, passphrase: "correct horse") == secret)
        #expect(throws: VaultError.wrongPassphrase) { try PassphraseSeal.open(sealed, passphrase: "wrong horse") }
        let json = try JSONEncoder().encode(sealed)
        #expect(try JSONDecoder().decode(SealedSecret.self, from: json) == sealed)

        var badSalt = sealed
        var salt = Base64.decode(sealed.salt)!
        salt[0] ^= 1
        badSalt.salt = Base64.encode(salt)
        #expect(throws: VaultError.wrongPassphrase) { try PassphraseSeal.open(badSalt, passphrase: "correct horse") }
        var badBox = sealed
        var box = Base64.decode(sealed.box)!
        box[box.count - 1] ^= 1
        badBox.box = Base64.encode(box)
        #expect(throws: VaultError.wrongPassphrase) { try PassphraseSeal.open(badBox, passphrase: "correct horse") }
        var absurd = sealed
        absurd.logN = 40
        #expect(throws: VaultError.self) { try PassphraseSeal.open(absurd, passphrase: "correct horse") }
        #expect(throws: VaultError.self) { try PassphraseSeal.seal(secret, passphrase: "", cost: .testing) }
    }
}
