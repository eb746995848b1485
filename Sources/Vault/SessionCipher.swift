public import Crypto
import Foundation
public import LedgerCore

/// A telehealth session's 256-bit AES-GCM key, shared by the parties of one session.
public struct SessionKey: Sendable {
    let key: SymmetricKey

    init(key: SymmetricKey) { self.key = key }

    /// Wraps 32 raw bytes.
    public init(rawBytes: [UInt8]) throws(VaultError) {
        guard rawBytes.count == 32 else { throw .invalidKey("a session key is 32 bytes, got \(rawBytes.count)") }
        key = SymmetricKey(data: rawBytes)
    }

    /// The raw 32 bytes.
    public var rawBytes: [UInt8] { key.withUnsafeBytes { Array($0) } }
}

/// A sealed session message: version 0x01 ‖ 32-byte sender id ‖ 8-byte big-endian sequence
/// number ‖ 12-byte nonce ‖ ciphertext ‖ 16-byte tag. The sender and sequence are also
/// authenticated (they are in the AAD), so altering the header fails authentication.
public struct SealedSessionMessage: Sendable, Equatable {
    public static let formatVersion: UInt8 = 1
    static let headerBytes = 1 + 32 + 8
    static let overhead = headerBytes + 12 + 16
    public let bytes: [UInt8]

    /// Checks the layout (not the authenticity: that needs the key).
    public init(bytes: [UInt8]) throws(VaultError) {
        guard bytes.count >= Self.overhead else { throw .malformed("session message is \(bytes.count) bytes, shorter than its header") }
        guard bytes[0] == Self.formatVersion else { throw .malformed("unknown session message format \(bytes[0])") }
        self.bytes = bytes
    }

    /// The sender id the header names.
    public var sender: IdentityID { Hash256(bytes: bytes[1..<33])! }

    /// The sequence number the header names (0 for a sender's first message).
    public var sequence: UInt64 { bytes[33..<41].reduce(0) { $0 << 8 | UInt64($1) } }
}

/// End-to-end encryption of a telehealth session with swift-crypto primitives only: a random
/// session key, HPKE-wrapped (RFC 9180, `KeyWrap.ciphersuite`) to each party's X25519 key and
/// bound to the session and recipient; AES-256-GCM messages whose AAD is
/// session id ‖ sender id ‖ 8-byte big-endian sequence number, so a replayed, reordered or
/// re-attributed message fails; and a commitment to the wrapped copies for the chain.
public enum SessionCipher {
    /// Largest message plaintext accepted.
    public static let plaintextBytesMax = 1024 * 1024

    /// A new random session key from the system CSPRNG.
    public static func generateKey() -> SessionKey { SessionKey(key: SymmetricKey(size: .bits256)) }

    static func wrapInfo(session: Hash256, recipient: IdentityID) -> [UInt8] {
        Array("careledger/session-key/v1".utf8) + session.bytes + recipient.bytes
    }

    static func associatedData(session: Hash256, sender: IdentityID, sequence: UInt64) -> [UInt8] {
        session.bytes + sender.bytes + withUnsafeBytes(of: sequence.bigEndian) { Array($0) }
    }

    /// Wraps the session key to a recipient's X25519 public key; it opens only for this session and recipient.
    public static func wrap(_ key: SessionKey, to recipientAgreementKey: [UInt8], session: Hash256,
                            recipient: IdentityID) throws(VaultError) -> WrappedKey {
        let publicKey: Curve25519.KeyAgreement.PublicKey
        do { publicKey = try .init(rawRepresentation: recipientAgreementKey) } catch {
            throw .invalidKey("recipient X25519 key must be 32 bytes, got \(recipientAgreementKey.count)")
        }
        do {
            var sender = try HPKE.Sender(recipientKey: publicKey, ciphersuite: KeyWrap.ciphersuite,
                                         info: Data(wrapInfo(session: session, recipient: recipient)))
            let ciphertext = try sender.seal(key.rawBytes)
            return WrappedKey(encapsulatedKey: Array(sender.encapsulatedKey), ciphertext: Array(ciphertext))
        } catch {
            throw .invalidKey("cannot wrap to that key: \(error)")
        }
    }

    /// Unwraps with the recipient's private key; fails on any alteration, wrong key, session or recipient.
    public static func unwrap(_ wrapped: WrappedKey, with privateKey: Curve25519.KeyAgreement.PrivateKey, session: Hash256,
                              recipient: IdentityID) throws(VaultError) -> SessionKey {
        do {
            var opener = try HPKE.Recipient(privateKey: privateKey, ciphersuite: KeyWrap.ciphersuite,
                                            info: Data(wrapInfo(session: session, recipient: recipient)),
                                            encapsulatedKey: Data(wrapped.encapsulatedKey))
            return try SessionKey(rawBytes: Array(try opener.open(wrapped.ciphertext)))
        } catch {
            throw .authenticationFailed("wrapped session key of \(session.hex) for \(recipient.hex)")
        }
    }

    /// The commitment the chain stores at `telehealth.open`: SHA-256 over a domain tag, the
    /// session id, the number of copies and each (recipient id ‖ wrapped key bytes) in recipient-id
    /// order. Each party can later show its wrapped copy and prove which key it received.
    public static func keyCommitment(session: Hash256, copies: [(recipient: IdentityID, wrapped: WrappedKey)]) -> Hash256 {
        let sorted = copies.sorted { $0.recipient == $1.recipient ? $0.wrapped.bytes.lexicographicallyPrecedes($1.wrapped.bytes)
                                                                   : $0.recipient < $1.recipient }
        var data = session.bytes + withUnsafeBytes(of: UInt64(sorted.count).bigEndian) { Array($0) }
        for copy in sorted { data += copy.recipient.bytes + copy.wrapped.bytes }
        return Hash256.sha256(domain: "careledger/session-key-commitment/v1", data)
    }

    /// Encrypts message number `sequence` of `sender` with a fresh random nonce.
    public static func seal(_ plaintext: [UInt8], with key: SessionKey, session: Hash256, sender: IdentityID,
                            sequence: UInt64) throws(VaultError) -> SealedSessionMessage {
        guard plaintext.count <= plaintextBytesMax else { throw .tooLarge(what: "session message", bytes: plaintext.count, max: plaintextBytesMax) }
        do {
            let box = try AES.GCM.seal(plaintext, using: key.key,
                                       authenticating: associatedData(session: session, sender: sender, sequence: sequence))
            let header = [SealedSessionMessage.formatVersion] + sender.bytes + withUnsafeBytes(of: sequence.bigEndian) { Array($0) }
            return try SealedSessionMessage(bytes: header + Array(box.combined!))
        } catch let error as VaultError {
            throw error
        } catch {
            throw .malformed("encryption failed: \(error)")
        }
    }

    /// Decrypts message number `expectedSequence` from `sender`. A message from another sender
    /// fails authentication; one with another sequence number (replayed, reordered) is refused.
    public static func open(_ message: SealedSessionMessage, with key: SessionKey, session: Hash256, sender: IdentityID,
                            expectedSequence: UInt64) throws(VaultError) -> [UInt8] {
        guard message.sender == sender else {
            throw .authenticationFailed("session message of \(session.hex) claiming sender \(message.sender.hex)")
        }
        guard message.sequence == expectedSequence else { throw .outOfSequence(expected: expectedSequence, got: message.sequence) }
        do {
            let box = try AES.GCM.SealedBox(combined: message.bytes.dropFirst(SealedSessionMessage.headerBytes))
            return Array(try AES.GCM.open(box, using: key.key,
                                          authenticating: associatedData(session: session, sender: sender, sequence: expectedSequence)))
        } catch {
            throw .authenticationFailed("session message \(expectedSequence) of \(session.hex) from \(sender.hex)")
        }
    }
}

/// The running transcript hash of a session: one SHA-256 chain per sender over the bytes of
/// each sealed message in sequence order, combined in sender-id order. Both parties reach the
/// same hash from the same messages however their sends interleave.
public struct SessionTranscript: Sendable, Equatable {
    public let session: Hash256
    private var chains: [IdentityID: (count: UInt64, hash: Hash256)] = [:]

    public init(session: Hash256) { self.session = session }

    public static func == (lhs: SessionTranscript, rhs: SessionTranscript) -> Bool { lhs.hash == rhs.hash }

    /// Adds a sealed message; it must be its sender's next message.
    public mutating func append(_ message: SealedSessionMessage) throws(VaultError) {
        let sender = message.sender
        let chain = chains[sender] ?? (0, Hash256.sha256(domain: "careledger/session-transcript/v1", session.bytes + sender.bytes))
        guard message.sequence == chain.count else { throw .outOfSequence(expected: chain.count, got: message.sequence) }
        chains[sender] = (chain.count + 1, Hash256.sha256(chain.hash.bytes + message.bytes))
    }

    /// Messages appended so far, from every sender (the `messageCount` of `telehealth.end`).
    public var messageCount: UInt64 { chains.values.reduce(0) { $0 + $1.count } }

    /// The transcript hash (the `transcriptHash` of `telehealth.end` when the session may be recorded).
    public var hash: Hash256 {
        var data = session.bytes
        for sender in chains.keys.sorted() {
            let chain = chains[sender]!
            data += sender.bytes + withUnsafeBytes(of: chain.count.bigEndian) { Array($0) } + chain.hash.bytes
        }
        return Hash256.sha256(domain: "careledger/session-transcript/v1/final", data)
    }
}

/// One party's end of a session: seals its own messages in sequence, opens the peer's strictly
/// in order (a replayed or reordered message is refused), and keeps the transcript.
public struct SessionChannel: Sendable {
    public let session: Hash256
    /// This party's id (the sender id of what it seals) and the peer's.
    public let me: IdentityID
    public let peer: IdentityID
    let key: SessionKey
    public private(set) var nextSendSequence: UInt64 = 0
    public private(set) var nextReceiveSequence: UInt64 = 0
    public private(set) var transcript: SessionTranscript

    public init(key: SessionKey, session: Hash256, me: IdentityID, peer: IdentityID) {
        self.key = key
        self.session = session
        self.me = me
        self.peer = peer
        self.transcript = SessionTranscript(session: session)
    }

    /// Seals this party's next message and adds it to the transcript.
    public mutating func seal(_ plaintext: [UInt8]) throws(VaultError) -> SealedSessionMessage {
        let message = try SessionCipher.seal(plaintext, with: key, session: session, sender: me, sequence: nextSendSequence)
        try transcript.append(message)
        nextSendSequence += 1
        return message
    }

    /// Opens the peer's next message and adds it to the transcript; nothing changes if it fails.
    public mutating func open(_ message: SealedSessionMessage) throws(VaultError) -> [UInt8] {
        let plaintext = try SessionCipher.open(message, with: key, session: session, sender: peer, expectedSequence: nextReceiveSequence)
        try transcript.append(message)
        nextReceiveSequence += 1
        return plaintext
    }
}
