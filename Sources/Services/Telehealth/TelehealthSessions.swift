public import Contracts
import Crypto
import FHIR
public import Foundation
public import LedgerCore
public import Node
public import Vault

/// The telehealth workflows shared by the CLI commands and the demo.
extension LocalLedger {
    /// Opens a session as a clinician: a fresh session key HPKE-wrapped to the clinician's and the
    /// patient's X25519 keys as registered on the chain, the wrapped copies saved to the session file
    /// first, then `telehealth.open` with the commitment to them.
    public func openSession(_ keys: IdentityKeys, patient patientID: IdentityID, consentToRecord: Bool) async throws -> TelehealthSession {
        let state = node.state
        guard let clinician = Directory.identity(keys.derivedID, in: state) else { throw ServiceError("\(keys.derivedID.hex) is not registered") }
        guard let patientIdentity = Directory.identity(patientID, in: state), patientIdentity.kind == .patient else {
            throw Refused(code: ResultCode.sessionPatientUnknown.name, message: "no patient \(patientID.hex) on the chain")
        }
        let id = Hash256(bytes: SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) })!
        let key = SessionCipher.generateKey()
        let copies = [(recipient: clinician.id, wrapped: try SessionCipher.wrap(key, to: clinician.agreementKey, session: id, recipient: clinician.id)),
                      (recipient: patientID, wrapped: try SessionCipher.wrap(key, to: patientIdentity.agreementKey, session: id, recipient: patientID))]
        let commitment = SessionCipher.keyCommitment(session: id, copies: copies)
        var file = SessionFile(session: id.hex, clinician: clinician.id.hex, patient: patientID.hex, consentToRecord: consentToRecord,
                               keyCommitment: commitment.hex, wrappedKeys: [:], messages: [])
        for copy in copies { file.wrappedKeys[copy.recipient.hex] = Base64.encode(copy.wrapped.bytes) }
        // The wrapped copies are on disk before the session is on-chain, so an opened session always has its keys.
        try file.save(in: directory)
        do {
            try await commit(sign(keys, TelehealthContract.Open(
                session: id, patient: patientID, consentToRecord: consentToRecord, keyCommitment: commitment,
                startMs: await node.nextBlockTimeMs)))
        } catch {
            try? FileManager.default.removeItem(at: SessionFile.url(id, in: directory))
            throw error
        }
        return TelehealthContract.session(id, in: node.state)!
    }

    /// Joins as the patient, after checking the wrapped copies against the on-chain commitment and
    /// that the signer's copy opens with their key (a delegate holds no copy).
    @discardableResult
    public func joinSession(_ keys: IdentityKeys, session id: Hash256) async throws -> CommitReceipt {
        guard let onChain = TelehealthContract.session(id, in: node.state) else {
            throw Refused(code: ResultCode.unknownSession.name, message: "no session \(id.hex)")
        }
        let file = try SessionFile.load(id, in: directory)
        try file.checkCommitment(onChain)
        if file.wrappedKey(for: keys.derivedID) != nil { _ = try file.sessionKey(for: keys) }
        return try await commit(sign(keys, TelehealthContract.Join(session: id)))
    }

    /// Ends a session as a participant: with consent to record, the transcript hash over the
    /// authenticated sealed messages; otherwise all zeros, and the sealed messages are deleted once
    /// the end is on-chain. An ended session is refused by the contract (sessionAlreadyEnded).
    public func endSession(_ keys: IdentityKeys, session id: Hash256) async throws -> TelehealthSession {
        guard let onChain = TelehealthContract.session(id, in: node.state) else {
            throw Refused(code: ResultCode.unknownSession.name, message: "no session \(id.hex)")
        }
        var file = try SessionFile.load(id, in: directory)
        try file.checkCommitment(onChain)
        var transcriptHash = Hash256.zero
        var count: Int64 = 0
        if onChain.status == .active {
            let sealed = try file.sealedMessages()
            count = Int64(sealed.count)
            if onChain.consentToRecord, !sealed.isEmpty {
                // Authenticate every message before anchoring a hash over them.
                _ = try file.open(with: try file.sessionKey(for: keys))
                var transcript = SessionTranscript(session: id)
                for message in sealed { try transcript.append(message) }
                transcriptHash = transcript.hash
            }
        }
        try await commit(sign(keys, TelehealthContract.End(
            session: id, transcriptHash: transcriptHash, messageCount: count, endMs: max(await node.nextBlockTimeMs, onChain.startMs))))
        if !onChain.consentToRecord, !file.messages.isEmpty {
            file.messages = []
            try file.save(in: directory)
        }
        return TelehealthContract.session(id, in: node.state)!
    }
}

/// What a session message carries inside its ciphertext: a text, or a file's name and bytes.
public struct SessionEnvelope: Codable {
    public var text: String?
    public var fileName: String?
    /// File bytes, base64 (inside the ciphertext only).
    public var file: String?

    public init(text: String) { self.text = text }

    public init(fileName: String, content: [UInt8]) {
        self.fileName = fileName
        self.file = Base64.encode(content)
    }

    /// The file bytes, if this envelope carries a file.
    public var content: [UInt8]? { file.flatMap(Base64.decode) }

    /// The plaintext that gets sealed (sorted-key JSON).
    public func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return Array(try encoder.encode(self))
    }
}

/// A decrypted session message.
public struct OpenedSessionMessage {
    public let sender: IdentityID
    public let sequence: UInt64
    public let envelope: SessionEnvelope
}

/// The session file `DATA/sessions/<id>.json` (0600): ids, the key commitment, the HPKE-wrapped
/// copies of the session key (base64) and the sealed messages (base64) — ciphertext and hashes only.
public struct SessionFile: Codable {
    public var session: String
    public var clinician: String
    public var patient: String
    public var consentToRecord: Bool
    public var keyCommitment: String
    /// Recipient id (hex) → wrapped session key (base64).
    public var wrappedKeys: [String: String]
    /// Sealed messages in the order they were appended (base64).
    public var messages: [String]

    /// Where a session's file lives in a data directory.
    public static func url(_ id: Hash256, in directory: DataDirectory) -> URL {
        directory.url.appendingPathComponent("sessions").appendingPathComponent("\(id.hex).json")
    }

    /// Reads a session's file; a missing or damaged file is a ServiceError.
    public static func load(_ id: Hash256, in directory: DataDirectory) throws -> SessionFile {
        let url = url(id, in: directory)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw ServiceError("no session file \(url.path) (sessions are held by the data directory that opened them)")
        }
        do { return try JSONDecoder().decode(SessionFile.self, from: data) } catch { throw ServiceError("session file \(url.path) is damaged") }
    }

    /// Writes atomically: a 0600 temporary file renamed over the old one.
    public func save(in directory: DataDirectory) throws {
        guard let id = Hash256(hex: session) else { throw ServiceError("bad session id in session file") }
        let url = Self.url(id, in: directory)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(self)
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(session).tmp")
        try? FileManager.default.removeItem(at: temporary)
        guard FileManager.default.createFile(atPath: temporary.path, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw ServiceError("cannot write \(temporary.path)")
        }
        guard rename(temporary.path, url.path) == 0 else { throw ServiceError("cannot replace \(url.path)") }
    }

    /// The wrapped copy of the session key for `id`, if any.
    public func wrappedKey(for id: IdentityID) -> WrappedKey? {
        wrappedKeys[id.hex].flatMap(Base64.decode).flatMap { try? WrappedKey(bytes: $0) }
    }

    /// The wrapped copies as `SessionCipher.keyCommitment` takes them.
    public func copies() throws -> [(recipient: IdentityID, wrapped: WrappedKey)] {
        try wrappedKeys.map { hex, base64 in
            guard let id = Hash256(hex: hex), let bytes = Base64.decode(base64), let wrapped = try? WrappedKey(bytes: bytes) else {
                throw ServiceError("session file \(session) holds a damaged wrapped key")
            }
            return (id, wrapped)
        }
    }

    /// Checks that the wrapped copies on disk are the ones the chain committed to.
    public func checkCommitment(_ onChain: TelehealthSession) throws {
        guard SessionCipher.keyCommitment(session: onChain.id, copies: try copies()) == onChain.keyCommitment else {
            throw ServiceError("the session file's wrapped keys do not match the key commitment on the chain")
        }
    }

    /// The on-chain session, if `reader` is its clinician or patient (else refused: not a participant).
    public func participantSession(_ reader: IdentityID, state: any StateReader) throws -> TelehealthSession {
        guard let id = Hash256(hex: session), let onChain = TelehealthContract.session(id, in: state) else {
            throw Refused(code: ResultCode.unknownSession.name, message: "no session \(session) on the chain")
        }
        try checkCommitment(onChain)
        guard reader == onChain.clinician || reader == onChain.patient, wrappedKey(for: reader) != nil else {
            throw Refused(code: ResultCode.notSessionParticipant.name,
                          message: "\(reader.hex) is not a participant of session \(session) and holds no copy of its key")
        }
        return onChain
    }

    /// Unwraps the reader's copy of the session key with their X25519 private key.
    public func sessionKey(for keys: IdentityKeys) throws -> SessionKey {
        guard let id = Hash256(hex: session), let wrapped = wrappedKey(for: keys.derivedID) else {
            throw Refused(code: ResultCode.notSessionParticipant.name, message: "\(keys.derivedID.hex) holds no copy of the key of session \(session)")
        }
        return try SessionCipher.unwrap(wrapped, with: keys.agreement, session: id, recipient: keys.derivedID)
    }

    /// The sealed messages in log order (layout checked, not authenticity).
    public func sealedMessages() throws -> [SealedSessionMessage] {
        try messages.map { text in
            guard let bytes = Base64.decode(text) else { throw ServiceError("session file \(session) holds a damaged message") }
            return try SealedSessionMessage(bytes: bytes)
        }
    }

    /// Seals a participant's next message into the log and saves the file; the session must be joined and not ended.
    public mutating func send(_ envelope: SessionEnvelope, as keys: IdentityKeys, state: any StateReader,
                       directory: DataDirectory) throws -> SealedSessionMessage {
        let onChain = try participantSession(keys.derivedID, state: state)
        switch onChain.status {
        case .active: break
        case .opened: throw Refused(code: ResultCode.sessionNotJoined.name, message: "the patient has not joined session \(session) yet")
        case .ended, .noShow: throw Refused(code: ResultCode.sessionAlreadyEnded.name, message: "session \(session) has ended")
        }
        let key = try sessionKey(for: keys)
        let sequence = UInt64(try sealedMessages().filter { $0.sender == keys.derivedID }.count)
        let sealed = try SessionCipher.seal(try envelope.encoded(), with: key, session: onChain.id, sender: keys.derivedID, sequence: sequence)
        messages.append(Base64.encode(sealed.bytes))
        try save(in: directory)
        return sealed
    }

    /// Decrypts the log as a participant (refused for anyone else).
    public func read(as keys: IdentityKeys, state: any StateReader) throws -> [OpenedSessionMessage] {
        _ = try participantSession(keys.derivedID, state: state)
        return try open(with: try sessionKey(for: keys))
    }

    /// Authenticates and decrypts every message, in each sender's sequence order; any alteration fails.
    public func open(with key: SessionKey) throws -> [OpenedSessionMessage] {
        guard let id = Hash256(hex: session), let clinicianID = Hash256(hex: clinician), let patientID = Hash256(hex: patient) else {
            throw ServiceError("session file \(session) is damaged")
        }
        var next: [IdentityID: UInt64] = [:]
        return try sealedMessages().map { message in
            guard message.sender == clinicianID || message.sender == patientID else {
                throw ServiceError("session \(session) holds a message from a non-participant \(message.sender.hex)")
            }
            let plaintext = try SessionCipher.open(message, with: key, session: id, sender: message.sender,
                                                   expectedSequence: next[message.sender, default: 0])
            next[message.sender, default: 0] += 1
            guard let envelope = try? JSONDecoder().decode(SessionEnvelope.self, from: Data(plaintext)) else {
                throw ServiceError("message \(message.sequence) of \(message.sender.hex) is not a session envelope")
            }
            return OpenedSessionMessage(sender: message.sender, sequence: message.sequence, envelope: envelope)
        }
    }
}

/// Readable and JSON forms of a session's on-chain record, shared by `telehealth show` and the demo.
public enum SessionOutput {
    /// The readable form of `telehealth show`.
    public static func lines(_ session: TelehealthSession, file: SessionFile?, names: [IdentityID: String]) -> [String] {
        func label(_ id: IdentityID) -> String { names[id].map { "\($0) (\(id.hex.prefix(12))…)" } ?? "\(id.hex.prefix(16))…" }
        var out = ["session \(session.id.hex) — \(session.status.rawValue)",
                   "  clinician \(label(session.clinician)) of \(label(session.clinicianOrganization)); patient \(label(session.patient))",
                   "  consent to record: \(session.consentToRecord ? "yes" : "no"); key commitment \(session.keyCommitment.hex)",
                   "  opened at block \(session.openedHeight), started \(FHIRDateTime.instant(ms: session.startMs))"]
        if let joinedBy = session.joinedBy { out.append("  joined by \(label(joinedBy)) at block \(session.joinedHeight ?? 0)") }
        if let endedBy = session.endedBy {
            out.append("  ended by \(label(endedBy)) at block \(session.endedHeight ?? 0), \(FHIRDateTime.instant(ms: session.endMs ?? 0)); \(session.messageCount ?? 0) message(s)")
            out.append("  transcript hash \(session.transcriptHash?.hex ?? "-")")
        }
        if let file {
            out.append("  local session file: \(file.wrappedKeys.count) wrapped key copies, \(file.messages.count) sealed message(s)")
        } else {
            out.append("  no local session file in this data directory")
        }
        return out
    }

    /// The JSON form of `telehealth show`.
    public static func json(_ session: TelehealthSession, file: SessionFile?) -> [String: Any] {
        var row: [String: Any] = [
            "session": session.id.hex, "clinician": session.clinician.hex, "organization": session.clinicianOrganization.hex,
            "patient": session.patient.hex, "consentToRecord": session.consentToRecord, "keyCommitment": session.keyCommitment.hex,
            "startMs": session.startMs, "status": session.status.rawValue, "openedHeight": session.openedHeight,
        ]
        if let joinedBy = session.joinedBy { row["joinedBy"] = joinedBy.hex }
        if let joinedHeight = session.joinedHeight { row["joinedHeight"] = joinedHeight }
        if let endedBy = session.endedBy { row["endedBy"] = endedBy.hex }
        if let endedHeight = session.endedHeight { row["endedHeight"] = endedHeight }
        if let endMs = session.endMs { row["endMs"] = endMs }
        if let transcriptHash = session.transcriptHash { row["transcriptHash"] = transcriptHash.hex }
        if let messageCount = session.messageCount { row["messageCount"] = messageCount }
        if let file { row["localFile"] = ["wrappedKeys": file.wrappedKeys.count, "sealedMessages": file.messages.count] }
        return row
    }
}
