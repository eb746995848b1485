import Console
import ArgumentParser
import Contracts
import Crypto
import FHIR
import Foundation
import LedgerCore
import Node
import Services
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
        static let configuration = CommandConfiguration(abstract: "Open a session with a patient (as a clinician): session key wrapped to both parties, key commitment anchored.")
        @OptionGroup var options: DataOption
        @Option(name: .customLong("as"), help: "The clinician's key.") var signer: String
        @Option(help: "The patient (key name or id).") var patient: String
        @Flag(help: "The patient agreed that a transcript be kept (its hash is anchored at the end).") var consentToRecord = false
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let (directory, keys) = try options.directoryAndKey(signer)
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
        static let configuration = CommandConfiguration(abstract: "Join a session (as its patient): checks the wrapped key against the on-chain commitment, then anchors the join.")
        @OptionGroup var options: DataOption
        @Argument(help: "Session id (64 hex).") var session: String
        @Option(name: .customLong("as"), help: "The patient's key (or a delegate's; a delegate holds no copy of the key).") var signer: String

        func run() async throws {
            let (directory, keys) = try options.directoryAndKey(signer)
            let id = try hexID(session, "session id")
            let receipt = try await withLedger(directory) { ledger in try await ledger.joinSession(keys, session: id) }
            Terminal.line("session \(id.hex) joined at block \(receipt.status.height); the session key opened and matches the on-chain commitment")
        }
    }

    /// `telehealth send`: seal a message or file into the session log.
    struct Send: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Encrypt a message or a file with the session key into the session's message log (as a participant of a joined session).")
        @OptionGroup var options: DataOption
        @Argument(help: "Session id (64 hex).") var session: String
        @Option(name: .customLong("as"), help: "The clinician's or the patient's key.") var signer: String
        @Option(help: "The message text.") var message: String?
        @Option(help: "A file to send (at most 700 KiB).") var file: String?

        func run() async throws {
            let (directory, keys) = try options.directoryAndKey(signer)
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
        static let configuration = CommandConfiguration(abstract: "Decrypt the session's messages (as a participant); each is authenticated, in each sender's sequence order.")
        @OptionGroup var options: DataOption
        @Argument(help: "Session id (64 hex).") var session: String
        @Option(name: .customLong("as"), help: "The clinician's or the patient's key.") var signer: String
        @Option(help: "Write received files into this directory (0600 files).") var out: String?
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let (directory, keys) = try options.directoryAndKey(signer)
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
            let (directory, keys) = try options.directoryAndKey(signer)
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

/// Runs `body`; a `Refused` is printed and becomes exit code 3 (for commands that do not open the node).
func refusing<T>(_ body: () throws -> T) throws -> T {
    do { return try body() } catch let refused as Refused {
        Terminal.error("\(refused)")
        throw exitRejected
    }
}
