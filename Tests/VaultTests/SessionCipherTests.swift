import Crypto
import Foundation
import LedgerCore
import Testing
import Vault

@Suite("Telehealth session encryption")
struct SessionCipherTests {
    static let session = Hash256.sha256(Array("session-1".utf8))
    static let clinician = IdentityKeys(seed: Array(repeating: 21, count: 32))
    static let patient = IdentityKeys(seed: Array(repeating: 22, count: 32))
    static let eavesdropper = IdentityKeys(seed: Array(repeating: 23, count: 32))

    /// The clinician generates the key and wraps it to both parties; each unwraps its own copy.
    static func channels() throws -> (clinician: SessionChannel, patient: SessionChannel) {
        let key = SessionCipher.generateKey()
        let forPatient = try SessionCipher.wrap(key, to: patient.agreementPublicKey, session: session, recipient: patient.derivedID)
        let forClinician = try SessionCipher.wrap(key, to: clinician.agreementPublicKey, session: session, recipient: clinician.derivedID)
        let patientKey = try SessionCipher.unwrap(forPatient, with: patient.agreement, session: session, recipient: patient.derivedID)
        let clinicianKey = try SessionCipher.unwrap(forClinician, with: clinician.agreement, session: session, recipient: clinician.derivedID)
        return (SessionChannel(key: clinicianKey, session: session, me: clinician.derivedID, peer: patient.derivedID),
                SessionChannel(key: patientKey, session: session, me: patient.derivedID, peer: clinician.derivedID))
    }

    @Test func roundTripBetweenTwoParties() throws {
        var (doctor, patient) = try Self.channels()
        let lines = ["How are you feeling today?", "Better, thanks.", "Any side effects?", "", "None."]
        for (i, line) in lines.enumerated() {
            let plaintext = Array(line.utf8)
            if i.isMultiple(of: 2) {
                #expect(try patient.open(try doctor.seal(plaintext)) == plaintext)
            } else {
                #expect(try doctor.open(try patient.seal(plaintext)) == plaintext)
            }
        }
        #expect(doctor.nextSendSequence == 3 && doctor.nextReceiveSequence == 2)
        #expect(patient.nextSendSequence == 2 && patient.nextReceiveSequence == 3)
        let sealed = try doctor.seal(Array("x".utf8))
        #expect(sealed.bytes.count == 1 + 69 && sealed.sender == Self.clinician.derivedID && sealed.sequence == 3)
        #expect(try SealedSessionMessage(bytes: sealed.bytes) == sealed)
    }

    @Test func keyWrapBindings() throws {
        let key = SessionCipher.generateKey()
        let wrapped = try SessionCipher.wrap(key, to: Self.patient.agreementPublicKey, session: Self.session, recipient: Self.patient.derivedID)
        #expect(try SessionCipher.unwrap(wrapped, with: Self.patient.agreement, session: Self.session,
                                         recipient: Self.patient.derivedID).rawBytes == key.rawBytes)
        // Wrong private key, session or recipient: all fail authentication.
        let bad: [(Curve25519.KeyAgreement.PrivateKey, Hash256, IdentityID)] = [
            (Self.eavesdropper.agreement, Self.session, Self.patient.derivedID),
            (Self.patient.agreement, Hash256.sha256([9]), Self.patient.derivedID),
            (Self.patient.agreement, Self.session, Self.eavesdropper.derivedID),
        ]
        for (privateKey, session, recipient) in bad {
            do {
                _ = try SessionCipher.unwrap(wrapped, with: privateKey, session: session, recipient: recipient)
                Issue.record("unwrapped with a wrong binding")
            } catch {
                guard case .authenticationFailed = error else { Issue.record("unexpected \(error)"); continue }
            }
        }
        var tampered = wrapped.bytes
        tampered[60] ^= 0x01
        #expect(throws: VaultError.self) {
            try SessionCipher.unwrap(try WrappedKey(bytes: tampered), with: Self.patient.agreement, session: Self.session,
                                     recipient: Self.patient.derivedID)
        }
        #expect(throws: VaultError.self) {
            try SessionCipher.wrap(key, to: [1, 2, 3], session: Self.session, recipient: Self.patient.derivedID)
        }
        #expect(throws: VaultError.self) { try SessionKey(rawBytes: [1]) }
    }

    @Test func wrongKeyFails() throws {
        let sealed = try SessionCipher.seal(Array("hello".utf8), with: SessionCipher.generateKey(), session: Self.session,
                                            sender: Self.clinician.derivedID, sequence: 0)
        #expect(throws: VaultError.self) {
            try SessionCipher.open(sealed, with: SessionCipher.generateKey(), session: Self.session, sender: Self.clinician.derivedID,
                                   expectedSequence: 0)
        }
    }

    /// Flipping a bit in the header (sender, sequence), nonce, ciphertext or tag is detected.
    @Test(arguments: [5, 40, 45, 60, 62, 70])
    func tamperedMessageFails(position: Int) throws {
        var (doctor, patient) = try Self.channels()
        var bytes = try doctor.seal(Array("Take 20 mg daily.".utf8)).bytes
        bytes[min(position, bytes.count - 1)] ^= 0x01
        let tampered = try SealedSessionMessage(bytes: bytes)
        #expect(throws: VaultError.self) { try patient.open(tampered) }
        #expect(patient.nextReceiveSequence == 0 && patient.transcript.messageCount == 0, "a failed open changes nothing")
        #expect(throws: VaultError.self) { try SealedSessionMessage(bytes: Array(bytes.prefix(20))) }
    }

    @Test func replayAndReorderDetected() throws {
        var (doctor, patient) = try Self.channels()
        let first = try doctor.seal(Array("one".utf8))
        let second = try doctor.seal(Array("two".utf8))
        // Reordered: the second message before the first.
        #expect(throws: VaultError.outOfSequence(expected: 0, got: 1)) { try patient.open(second) }
        #expect(try patient.open(first) == Array("one".utf8))
        // Replayed: the first again.
        #expect(throws: VaultError.outOfSequence(expected: 1, got: 0)) { try patient.open(first) }
        #expect(try patient.open(second) == Array("two".utf8))
        // A header rewritten to the expected sequence number fails authentication (the AAD binds it).
        var forged = first.bytes
        forged[40] = 2
        #expect(throws: VaultError.self) { try patient.open(try SealedSessionMessage(bytes: forged)) }
        // A party's own message reflected back to it is not from its peer.
        let own = try patient.seal(Array("mine".utf8))
        var reflected = patient
        do {
            _ = try reflected.open(own)
            Issue.record("opened a reflected message")
        } catch {
            guard case .authenticationFailed = error else { Issue.record("unexpected \(error)"); return }
        }
    }

    @Test func transcriptHashesAgree() throws {
        var (doctor, patient) = try Self.channels()
        // Interleaved sends: both sides send before reading, so each sees a different local order.
        let d0 = try doctor.seal(Array("d0".utf8))
        let p0 = try patient.seal(Array("p0".utf8))
        _ = try patient.open(d0)
        _ = try doctor.open(p0)
        let d1 = try doctor.seal(Array("d1".utf8))
        _ = try patient.open(d1)
        #expect(doctor.transcript.hash == patient.transcript.hash)
        #expect(doctor.transcript.messageCount == 3 && patient.transcript.messageCount == 3)

        // A third party replaying the relayed messages reaches the same hash; a missing message does not.
        var observer = SessionTranscript(session: Self.session)
        for message in [p0, d0, d1] { try observer.append(message) }
        #expect(observer.hash == doctor.transcript.hash)
        var partial = SessionTranscript(session: Self.session)
        try partial.append(d0)
        try partial.append(p0)
        #expect(partial.hash != doctor.transcript.hash)
        var skipping = SessionTranscript(session: Self.session)
        #expect(throws: VaultError.outOfSequence(expected: 0, got: 1)) { try skipping.append(d1) }
    }

    @Test func keyCommitmentBindsTheWrappedCopies() throws {
        let key = SessionCipher.generateKey()
        let forPatient = try SessionCipher.wrap(key, to: Self.patient.agreementPublicKey, session: Self.session, recipient: Self.patient.derivedID)
        let forClinician = try SessionCipher.wrap(key, to: Self.clinician.agreementPublicKey, session: Self.session,
                                                  recipient: Self.clinician.derivedID)
        let commitment = SessionCipher.keyCommitment(session: Self.session, copies: [
            (Self.patient.derivedID, forPatient), (Self.clinician.derivedID, forClinician),
        ])
        // Order of copies does not matter; both parties compute the same commitment.
        #expect(commitment == SessionCipher.keyCommitment(session: Self.session, copies: [
            (Self.clinician.derivedID, forClinician), (Self.patient.derivedID, forPatient),
        ]))
        // A different wrapped copy (e.g. a different key given to the patient) changes it.
        let other = try SessionCipher.wrap(SessionCipher.generateKey(), to: Self.patient.agreementPublicKey, session: Self.session,
                                           recipient: Self.patient.derivedID)
        #expect(commitment != SessionCipher.keyCommitment(session: Self.session, copies: [
            (Self.patient.derivedID, other), (Self.clinician.derivedID, forClinician),
        ]))
        #expect(commitment != SessionCipher.keyCommitment(session: Hash256.sha256([7]), copies: [
            (Self.patient.derivedID, forPatient), (Self.clinician.derivedID, forClinician),
        ]))
    }

    @Test func sizeLimit() throws {
        #expect(throws: VaultError.tooLarge(what: "session message", bytes: SessionCipher.plaintextBytesMax + 1, max: SessionCipher.plaintextBytesMax)) {
            try SessionCipher.seal(Array(repeating: 0, count: SessionCipher.plaintextBytesMax + 1), with: SessionCipher.generateKey(),
                                   session: Self.session, sender: Self.clinician.derivedID, sequence: 0)
        }
    }
}
