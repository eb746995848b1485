import ArgumentParser
import Contracts
import Crypto
import FHIR
import Foundation
import LedgerCore
import Node
import Storage
import Vault

/// `careledger telehealth`: end-to-end encrypted telehealth sessions anchored by the telehealth contract.
struct TelehealthCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "telehealth",
        abstract: "End-to-end encrypted telehealth sessions: open, join, send, read, end (transcript hash on-chain), show.",
        discussion: """
            The clinician generates a random AES-256 session key and HPKE-wraps it (X25519, HKDF-SHA256,
            AES-256-GCM) to the clinician's and the patient's X25519 keys as registered on the chain; the chain
            stores only a commitment to the wrapped copies. The session file DATA/sessions/<id>.json holds the
            wrapped copies and the sealed messages (AES-256-GCM, bound to session, sender and sequence number):
            never the plain key, never a plaintext message. Without consent to record, `end` anchors an
            all-zero transcript hash and deletes the sealed messages.
            """,
        subcommands: [Open.self, Join.self, Send.self, Read.self, End.self, Show.self])

    /// `telehealth open`: the clinician starts a session.
    struct Open: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Open a session with a patient (as a clinician): session key wrapped to both parties, key commitment anchored.")
        @OptionGroup var options: DataOption
        @Option(name: .customLong("as"), help: "The clinician's key.") var signer: String
        @Option(help: "The patient (key name or id).") var patient: String
        @Flag(help: "The patient agreed that a transcript be kept (its hash is anchored at the end).") var consentToRecord = false
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let directory = options.directory
            let keys = try directory.loadKey(signer)
            let patientID = try directory.identityID(patient)
            let session = try await withLedger(directory) { ledger in
                try await ledger.openSession(keys, patient: patientID, consentToRecord: consentToRecord)
            }
            if json { Terminal.json(SessionOutput.json(session, file: try? SessionFile.load(session.id, in: directory))) } else {
                Terminal.line("session \(session.id.hex) opened at block \(session.openedHeight)")
                Terminal.line("  session key HPKE-wrapped to the clinician and the patient; key commitment \(session.keyCommitment.hex.prefix(16))… on-chain")
                Terminal.line("  consent to record: \(session.consentToRecord ? "yes" : "no")")
            }
        }
    }

    /// `telehealth join`: the patient joins.
    struct Join: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Join a session (as its patient): checks the wrapped key against the on-chain commitment, then anchors the join.")
        @OptionGroup var options: DataOption
        @Argument(help: "Session id (64 hex).") var session: String
        @Option(name: .customLong("as"), help: "The patient's key (or a delegate's; a delegate holds no copy of the key).") var signer: String

        func run() async throws {
            let directory = options.directory
            let keys = try directory.loadKey(signer)
            let id = try hexID(session, "session id")
            let receipt = try await withLedger(directory) { ledger in try await ledger.joinSession(keys, session: id) }
            Terminal.line("session \(id.hex) joined at block \(receipt.status.height); the session key opened and matches the on-chain commitment")
        }
    }

    /// `telehealth send`: seal a message or file into the session log.
    struct Send: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Encrypt a message or a file with the session key into the session's message log (as a participant of a joined session).")
        @OptionGroup var options: DataOption
        @Argument(help: "Session id (64 hex).") var session: String
        @Option(name: .customLong("as"), help: "The clinician's or the patient's key.") var signer: String
        @Option(help: "The message text.") var message: String?
        @Option(help: "A file to send (at most 700 KiB).") var file: String?

        func run() async throws {
            let directory = options.directory
            let keys = try directory.loadKey(signer)
            let id = try hexID(session, "session id")
            let envelope: SessionEnvelope
            switch (message, file) {
            case (let text?, nil): envelope = SessionEnvelope(text: text)
            case (nil, let path?):
                envelope = SessionEnvelope(fileName: URL(fileURLWithPath: path).lastPathComponent, content: try readInput(path, max: 700 * 1024))
            default: throw CLIError("give exactly one of --message TEXT and --file PATH")
            }
            // The directory lock serializes writers of the message log.
            let lock = try directory.lock()
            defer { lock.release() }
            let state = StoreStateReader(store: try directory.openStore())
            let sealed = try refusing {
                var sessionFile = try SessionFile.load(id, in: directory)
                return try sessionFile.send(envelope, as: keys, state: state, directory: directory)
            }
            Terminal.line("message \(sealed.sequence) from \(keys.derivedID.hex.prefix(16))… sealed (\(sealed.bytes.count) bytes of ciphertext in the session log)")
        }
    }

    /// `telehealth read`: decrypt the session log as a participant.
    struct Read: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Decrypt the session's messages (as a participant); each is authenticated, in each sender's sequence order.")
        @OptionGroup var options: DataOption
        @Argument(help: "Session id (64 hex).") var session: String
        @Option(name: .customLong("as"), help: "The clinician's or the patient's key.") var signer: String
        @Option(help: "Write received files into this directory (0600 files).") var out: String?
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let directory = options.directory
            let keys = try directory.loadKey(signer)
            let id = try hexID(session, "session id")
            let state = StoreStateReader(store: try directory.openStore())
            let names = directory.localNames()
            let messages = try refusing { try SessionFile.load(id, in: directory).read(as: keys, state: state) }
            if let out {
                try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            }
            var rows: [[String: Any]] = []
            for message in messages {
                let who = names[message.sender] ?? "\(message.sender.hex.prefix(16))…"
                var row: [String: Any] = ["sender": message.sender.hex, "sequence": message.sequence]
                if let text = message.envelope.text {
                    row["text"] = text
                    if !json { Terminal.line("[\(who) #\(message.sequence)] \(text)") }
                } else if let name = message.envelope.fileName, let content = message.envelope.content {
                    row["file"] = name
                    row["bytes"] = content.count
                    var saved = ""
                    if let out {
                        let safe = URL(fileURLWithPath: name).lastPathComponent
                        let target = URL(fileURLWithPath: out).appendingPathComponent(safe)
                        try writeOutput(content, to: target.path)
                        saved = " → \(target.path)"
                        row["savedTo"] = target.path
                    }
                    if !json { Terminal.line("[\(who) #\(message.sequence)] file \(name) (\(content.count) bytes)\(saved)") }
                }
                rows.append(row)
            }
            if json { Terminal.json(["session": id.hex, "messages": rows]) } else if messages.isEmpty { Terminal.line("no messages") }
        }
    }

    /// `telehealth end`: end the session and anchor its transcript hash.
    struct End: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "End a session (as a participant): anchors the transcript hash (all zeros without consent to record) and message count.",
            discussion: """
                With consent to record, the transcript hash is computed from the sealed messages (each authenticated
                first) and the sealed log is kept. Without it, the hash is all zeros and the sealed messages are
                deleted once the end is on-chain. The clinician ending a session the patient never joined records a no-show.
                """)
        @OptionGroup var options: DataOption
        @Argument(help: "Session id (64 hex).") var session: String
        @Option(name: .customLong("as"), help: "The clinician's or the patient's key.") var signer: String
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let directory = options.directory
            let keys = try directory.loadKey(signer)
            let id = try hexID(session, "session id")
            let ended = try await withLedger(directory) { ledger in try await ledger.endSession(keys, session: id) }
            if json { Terminal.json(SessionOutput.json(ended, file: try? SessionFile.load(id, in: directory))) } else {
                Terminal.line("session \(id.hex) \(ended.status.rawValue) at block \(ended.endedHeight ?? 0): \(ended.messageCount ?? 0) message(s), transcript hash \(ended.transcriptHash?.hex ?? "-")")
                if !ended.consentToRecord { Terminal.line("  no consent to record: the transcript hash is all zeros and the sealed messages were deleted") }
            }
        }
    }

    /// `telehealth show`: the on-chain record and the local file's contents.
    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a session's on-chain record and what the local session file holds.")
        @OptionGroup var options: DataOption
        @Argument(help: "Session id (64 hex).") var session: String
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let directory = options.directory
            let id = try hexID(session, "session id")
            let state = StoreStateReader(store: try directory.openStore())
            guard let onChain = TelehealthContract.session(id, in: state) else { throw CLIError("no session \(id.hex)") }
            let file = try? SessionFile.load(id, in: directory)
            if json { Terminal.json(SessionOutput.json(onChain, file: file)) } else {
                for line in SessionOutput.lines(onChain, file: file, names: directory.localNames()) { Terminal.line(line) }
            }
        }
    }
}

/// The telehealth workflows shared by the CLI commands and the demo.
extension LocalLedger {
    /// Opens a session as a clinician: a fresh session key HPKE-wrapped to the clinician's and the
    /// patient's X25519 keys as registered on the chain, the wrapped copies saved to the session file
    /// first, then `telehealth.open` with the commitment to them.
    func openSession(_ keys: IdentityKeys, patient patientID: IdentityID, consentToRecord: Bool) async throws -> TelehealthSession {
        let state = node.state
        guard let clinician = Directory.identity(keys.derivedID, in: state) else { throw CLIError("\(keys.derivedID.hex) is not registered") }
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
            try await commit(sign(keys, contract: "telehealth", method: "open", args: .map([
                "session": .bytes(id.bytes), "patient": .bytes(patientID.bytes), "consentToRecord": .bool(consentToRecord),
                "keyCommitment": .bytes(commitment.bytes), "startMs": .int(SystemClock().nowMs())])))
        } catch {
            try? FileManager.default.removeItem(at: SessionFile.url(id, in: directory))
            throw error
        }
        return TelehealthContract.session(id, in: node.state)!
    }

    /// Joins as the patient, after checking the wrapped copies against the on-chain commitment and
    /// that the signer's copy opens with their key (a delegate holds no copy).
    @discardableResult
    func joinSession(_ keys: IdentityKeys, session id: Hash256) async throws -> CommitReceipt {
        guard let onChain = TelehealthContract.session(id, in: node.state) else {
            throw Refused(code: ResultCode.unknownSession.name, message: "no session \(id.hex)")
        }
        let file = try SessionFile.load(id, in: directory)
        try file.checkCommitment(onChain)
        if file.wrappedKey(for: keys.derivedID) != nil { _ = try file.sessionKey(for: keys) }
        return try await commit(sign(keys, contract: "telehealth", method: "join", args: .map(["session": .bytes(id.bytes)])))
    }

    /// Ends a session as a participant: with consent to record, the transcript hash over the
    /// authenticated sealed messages; otherwise all zeros, and the sealed messages are deleted once
    /// the end is on-chain. An ended session is refused by the contract (sessionAlreadyEnded).
    func endSession(_ keys: IdentityKeys, session id: Hash256) async throws -> TelehealthSession {
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
        try await commit(sign(keys, contract: "telehealth", method: "end", args: .map([
            "session": .bytes(id.bytes), "transcriptHash": .bytes(transcriptHash.bytes), "messageCount": .int(count),
            "endMs": .int(max(SystemClock().nowMs(), onChain.startMs))])))
        if !onChain.consentToRecord, !file.messages.isEmpty {
            file.messages = []
            try file.save(in: directory)
        }
        return TelehealthContract.session(id, in: node.state)!
    }
}

/// Runs `body`; a `Refused` is printed and becomes exit code 3 (for commands that do not open the node).
func refusing<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let refused as Refused {
        Terminal.error("\(refused)")
        throw exitRejected
    }
}

/// What a session message carries inside its ciphertext: a text, or a file's name and bytes.
struct SessionEnvelope: Codable {
    var text: String?
    var fileName: String?
    /// File bytes, base64 (inside the ciphertext only).
    var file: String?

    init(text: String) { self.text = text }

    init(fileName: String, content: [UInt8]) {
        self.fileName = fileName
        self.file = Base64.encode(content)
    }

    /// The file bytes, if this envelope carries a file.
    var content: [UInt8]? { file.flatMap(Base64.decode) }

    /// The plaintext that gets sealed (sorted-key JSON).
    func encoded() throws -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return Array(try encoder.encode(self))
    }
}

/// A decrypted session message.
struct OpenedSessionMessage {
    let sender: IdentityID
    let sequence: UInt64
    let envelope: SessionEnvelope
}

/// The session file `DATA/sessions/<id>.json` (0600): ids, the key commitment, the HPKE-wrapped
/// copies of the session key (base64) and the sealed messages (base64) — ciphertext and hashes only.
struct SessionFile: Codable {
    var session: String
    var clinician: String
    var patient: String
    var consentToRecord: Bool
    var keyCommitment: String
    /// Recipient id (hex) → wrapped session key (base64).
    var wrappedKeys: [String: String]
    /// Sealed messages in the order they were appended (base64).
    var messages: [String]

    /// Where a session's file lives in a data directory.
    static func url(_ id: Hash256, in directory: DataDirectory) -> URL {
        directory.url.appendingPathComponent("sessions").appendingPathComponent("\(id.hex).json")
    }

    /// Reads a session's file; a missing or damaged file is a CLIError.
    static func load(_ id: Hash256, in directory: DataDirectory) throws -> SessionFile {
        let url = url(id, in: directory)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw CLIError("no session file \(url.path) (sessions are held by the data directory that opened them)")
        }
        do { return try JSONDecoder().decode(SessionFile.self, from: data) } catch { throw CLIError("session file \(url.path) is damaged") }
    }

    /// Writes atomically: a 0600 temporary file renamed over the old one.
    func save(in directory: DataDirectory) throws {
        guard let id = Hash256(hex: session) else { throw CLIError("bad session id in session file") }
        let url = Self.url(id, in: directory)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let data = try encoder.encode(self)
        let temporary = url.deletingLastPathComponent().appendingPathComponent(".\(session).tmp")
        try? FileManager.default.removeItem(at: temporary)
        guard FileManager.default.createFile(atPath: temporary.path, contents: data, attributes: [.posixPermissions: 0o600]) else {
            throw CLIError("cannot write \(temporary.path)")
        }
        guard rename(temporary.path, url.path) == 0 else { throw CLIError("cannot replace \(url.path)") }
    }

    /// The wrapped copy of the session key for `id`, if any.
    func wrappedKey(for id: IdentityID) -> WrappedKey? {
        wrappedKeys[id.hex].flatMap(Base64.decode).flatMap { try? WrappedKey(bytes: $0) }
    }

    /// The wrapped copies as `SessionCipher.keyCommitment` takes them.
    func copies() throws -> [(recipient: IdentityID, wrapped: WrappedKey)] {
        try wrappedKeys.map { hex, base64 in
            guard let id = Hash256(hex: hex), let bytes = Base64.decode(base64), let wrapped = try? WrappedKey(bytes: bytes) else {
                throw CLIError("session file \(session) holds a damaged wrapped key")
            }
            return (id, wrapped)
        }
    }

    /// Checks that the wrapped copies on disk are the ones the chain committed to.
    func checkCommitment(_ onChain: TelehealthSession) throws {
        guard SessionCipher.keyCommitment(session: onChain.id, copies: try copies()) == onChain.keyCommitment else {
            throw CLIError("the session file's wrapped keys do not match the key commitment on the chain")
        }
    }

    /// The on-chain session, if `reader` is its clinician or patient (else refused: not a participant).
    func participantSession(_ reader: IdentityID, state: any StateReader) throws -> TelehealthSession {
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
    func sessionKey(for keys: IdentityKeys) throws -> SessionKey {
        guard let id = Hash256(hex: session), let wrapped = wrappedKey(for: keys.derivedID) else {
            throw Refused(code: ResultCode.notSessionParticipant.name, message: "\(keys.derivedID.hex) holds no copy of the key of session \(session)")
        }
        return try SessionCipher.unwrap(wrapped, with: keys.agreement, session: id, recipient: keys.derivedID)
    }

    /// The sealed messages in log order (layout checked, not authenticity).
    func sealedMessages() throws -> [SealedSessionMessage] {
        try messages.map { text in
            guard let bytes = Base64.decode(text) else { throw CLIError("session file \(session) holds a damaged message") }
            return try SealedSessionMessage(bytes: bytes)
        }
    }

    /// Seals a participant's next message into the log and saves the file; the session must be joined and not ended.
    mutating func send(_ envelope: SessionEnvelope, as keys: IdentityKeys, state: any StateReader,
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
    func read(as keys: IdentityKeys, state: any StateReader) throws -> [OpenedSessionMessage] {
        _ = try participantSession(keys.derivedID, state: state)
        return try open(with: try sessionKey(for: keys))
    }

    /// Authenticates and decrypts every message, in each sender's sequence order; any alteration fails.
    func open(with key: SessionKey) throws -> [OpenedSessionMessage] {
        guard let id = Hash256(hex: session), let clinicianID = Hash256(hex: clinician), let patientID = Hash256(hex: patient) else {
            throw CLIError("session file \(session) is damaged")
        }
        var next: [IdentityID: UInt64] = [:]
        return try sealedMessages().map { message in
            guard message.sender == clinicianID || message.sender == patientID else {
                throw CLIError("session \(session) holds a message from a non-participant \(message.sender.hex)")
            }
            let plaintext = try SessionCipher.open(message, with: key, session: id, sender: message.sender,
                                                   expectedSequence: next[message.sender, default: 0])
            next[message.sender, default: 0] += 1
            guard let envelope = try? JSONDecoder().decode(SessionEnvelope.self, from: Data(plaintext)) else {
                throw CLIError("message \(message.sequence) of \(message.sender.hex) is not a session envelope")
            }
            return OpenedSessionMessage(sender: message.sender, sequence: message.sequence, envelope: envelope)
        }
    }
}

/// Readable and JSON forms of a session's on-chain record, shared by `telehealth show` and the demo.
enum SessionOutput {
    /// The readable form of `telehealth show`.
    static func lines(_ session: TelehealthSession, file: SessionFile?, names: [IdentityID: String]) -> [String] {
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
    static func json(_ session: TelehealthSession, file: SessionFile?) -> [String: Any] {
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
