import Console
import ArgumentParser
import Contracts
import Foundation
import LedgerCore
import Node
import Services
import Storage
import Vault

/// Opens the embedded node, runs `body`, anchors any new audit entries, and closes — also on error.
/// A denied access exits with code 3 after its audit entry is anchored.
func withLedger<T>(_ directory: DataDirectory, _ body: (LocalLedger) async throws -> T) async throws -> T {
    let ledger = try await LocalLedger.open(directory, blockDelayMs: 5)
    do {
        let value = try await body(ledger)
        try await ledger.anchorAudit()
        await ledger.close()
        return value
    } catch {
        _ = try? await ledger.anchorAudit()
        await ledger.close()
        guard error is Refused || (error as? AccessError).map({ if case .denied = $0 { true } else { false } }) == true else { throw error }
        Terminal.error("\(error)")
        throw exitRejected
    }
}

/// `careledger record`: encrypted health records.
struct RecordCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "record",
        abstract: "Write, read, list and erase encrypted health records (FHIR R4 JSON).",
        subcommands: [Put.self, Get.self, History.self, Erase.self, Find.self])

    struct Put: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Encrypt a FHIR resource, store it at the author's organization and register it on-chain.")
        @OptionGroup var options: DataOption
        @Option(name: .customLong("as"), help: "Author: a member key (clinician, nurse, pharmacist, integration) or an organization key.") var author: String
        @Option(help: "The patient: key name or id.") var patient: String
        @Option(help: "Sensitivity: \(SensitivityCategory.allCases.map(\.rawValue).joined(separator: ", ")).") var category = "general"
        @Option(help: "FHIR R4 JSON file (at most 4 MiB), or - for standard input.") var file: String
        @Option(help: "Write a new version of this record (64 hex) instead of a new record.") var record: String?
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let directory = options.directory
            guard let category = SensitivityCategory(rawValue: category) else { throw CLIError("unknown category “\(category)”") }
            let content = try readInput(file, max: RecordCipher.plaintextBytesMax)
            let authorKeys = try directory.loadKey(author)
            let patientID = try directory.identityID(patient)
            let recordID = try record.map { try hexID($0, "--record") }
            let (entry, receipt) = try await withLedger(directory) { ledger in
                try await ledger.putRecord(content: content, patient: patientID, category: category, author: authorKeys, record: recordID)
            }
            if json {
                Terminal.json(["record": entry.record.hex, "version": entry.version, "ciphertextHash": entry.ciphertextHash.hex,
                               "height": receipt.status.height, "transaction": receipt.status.transactionID.hex])
            } else {
                Terminal.line("record       \(entry.record.hex)  version \(entry.version)")
                Terminal.line("type         \(entry.resourceType) (\(entry.category.rawValue))")
                Terminal.line("ciphertext   \(entry.ciphertextHash.hex)")
                Terminal.line("block        \(receipt.status.height)   transaction \(receipt.status.transactionID.hex)")
            }
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Read a record: decided against on-chain consent and logged before anything is released. Exit 3 when denied.")
        @OptionGroup var options: DataOption
        @Argument(help: "Record id (64 hex).") var record: String
        @Option(name: .customLong("as"), help: "Requester key name.") var requester: String
        @Option(help: "Purpose of use: \(Purpose.allCases.map(\.rawValue).joined(separator: ", ")).") var purpose = "TREAT"
        @Option(help: "Write the decrypted resource to this file (0600) instead of standard output.") var out: String?

        func run() async throws {
            let directory = options.directory
            guard let purpose = Purpose(rawValue: purpose) else { throw CLIError("unknown purpose “\(purpose)”") }
            let id = try hexID(record, "record id")
            let keys = try directory.loadKey(requester)
            let (content, release) = try await withLedger(directory) { ledger in try await ledger.readRecord(id, as: keys, purpose: purpose) }
            Terminal.error("permitted: \(release.decision.reason.text)" + (release.decision.consent.map { " (consent \($0.hex))" } ?? "")
                + "; audit entry #\(release.auditIndex)")
            try writeOutput(content, to: out)
        }
    }

    struct History: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List every version of a record as the chain records it (no content).")
        @OptionGroup var options: DataOption
        @Argument(help: "Record id (64 hex).") var record: String
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let id = try hexID(record, "record id")
            let state = StoreStateReader(store: try options.directory.openStore())
            let versions = RecordIndex.history(id, in: state)
            guard let current = RecordIndex.current(id, in: state) else { throw CLIError("no record \(id.hex)") }
            let rows: [[String: Any]] = versions.map {
                ["version": $0.version, "height": $0.height, "author": $0.author.hex, "custodian": $0.custodian.hex,
                 "resourceType": $0.resourceType, "category": $0.category.rawValue, "ciphertextHash": $0.ciphertextHash.hex]
            }
            if json {
                Terminal.json(["record": id.hex, "patient": current.patient.hex, "versions": rows,
                               "erasedHeight": current.erasedHeight.map { $0 as Any } ?? NSNull()])
                return
            }
            Terminal.line("record \(id.hex)  patient \(current.patient.hex)")
            for v in versions {
                Terminal.line("  v\(v.version)  block \(v.height)  \(v.resourceType) (\(v.category.rawValue))  author \(v.author.hex.prefix(16))…  ciphertext \(v.ciphertextHash.hex.prefix(16))…")
            }
            if let erased = current.erasedHeight { Terminal.line("  erased at block \(erased) by \(current.erasedBy?.hex ?? "?")") }
        }
    }

    struct Erase: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Erase a record: recorded on-chain, then blob, wrapped keys and index entries are destroyed.")
        @OptionGroup var options: DataOption
        @Argument(help: "Record id (64 hex).") var record: String
        @Option(name: .customLong("as"), help: "The patient, a delegate, or the custodian organization.") var signer: String

        func run() async throws {
            let directory = options.directory
            let id = try hexID(record, "record id")
            let keys = try directory.loadKey(signer)
            let (receipt, report) = try await withLedger(directory) { ledger in try await ledger.eraseRecord(id, signer: keys) }
            Terminal.line("erased at block \(receipt.status.height): \(report.blobs) blobs, \(report.wrappedKeys) wrapped keys, \(report.indexEntries) index entries destroyed")
        }
    }

    struct Find: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Find records by a direct identifier through the blind index (keyed hashes; words of ≥ 3 characters).")
        @OptionGroup var options: DataOption
        @Option(help: "Field: \(IdentifierField.allCases.map(\.rawValue).joined(separator: ", ")).") var field = "name"
        @Argument(help: "Query: a name, identifier, phone or address (prefixes work).") var query: String

        func run() async throws {
            guard let field = IdentifierField(rawValue: field) else { throw CLIError("unknown field “\(field)”") }
            let found = try await withLedger(options.directory) { ledger in try ledger.access.search(field, query) }
            for id in found { Terminal.line(id.hex) }
        }
    }
}

/// Reads a file or standard input, refusing more than `max` bytes.
func readInput(_ path: String, max: Int) throws -> [UInt8] {
    let data: Data
    if path == "-" { data = FileHandle.standardInput.readDataToEndOfFile() } else {
        guard let contents = FileManager.default.contents(atPath: path) else { throw CLIError("cannot read \(path)") }
        data = contents
    }
    guard data.count <= max else { throw CLIError("\(path) is \(data.count) bytes; the limit is \(max)") }
    return Array(data)
}

/// Writes decrypted content to a new 0600 file, or to standard output.
func writeOutput(_ content: [UInt8], to path: String?) throws {
    guard let path else {
        FileHandle.standardOutput.write(Data(content))
        Terminal.line("")
        return
    }
    guard FileManager.default.createFile(atPath: path, contents: Data(content), attributes: [.posixPermissions: 0o600]) else {
        throw CLIError("cannot write \(path)")
    }
}
