import Console
import ArgumentParser
import Contracts
import Foundation
import LedgerCore
import Node
import Services
import Storage
import Vault

/// `careledger consent`: a patient's grants.
struct ConsentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consent",
        abstract: "Grant, revoke and list a patient's consents (FHIR Consent semantics).",
        subcommands: [Grant.self, Revoke.self, List.self])

    struct Grant: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Grant access; effective from the next block. Sensitive categories must be named to be covered.")
        @OptionGroup var signing: PatientSignerOptions
        @Option(help: "Grantee: a member or organization (key name or id).") var to: String?
        @Option(help: "Grantee role instead of --to: \(Role.allCases.map(\.rawValue).joined(separator: ", ")).") var role: String?
        @Option(help: "Purposes of use, comma-separated: \(Purpose.allCases.map(\.rawValue).joined(separator: ", ")).") var purpose = "TREAT"
        @Option(help: "Actions, comma-separated: read, contribute.") var action = "read"
        @Option(help: "Categories covered, comma-separated (default: general only).") var category: String?
        @Option(help: "FHIR resource types covered, comma-separated (default: any).") var resourceType: String?
        @Option(help: "Record ids covered, comma-separated (default: any).") var record: String?
        @Option(help: "Days until the consent ends (default: until revoked).") var days: Int?
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let (directory, keys, patientID) = try signing.resolve()
            let grantee: Grantee
            switch (to, role) {
            case (let name?, nil):
                let id = try directory.identityID(name)
                let store = try directory.openStore()
                grantee = Directory.identity(id, in: StoreStateReader(store: store))?.kind == .organization ? .organization(id) : .member(id)
            case (nil, let role?):
                // The contract's own refusal for a name it does not know.
                do { grantee = .role(try Role(argument: role)) } catch { throw Refused(error.code, error.message) }
            default: throw CLIError("give exactly one of --to and --role")
            }
            if let days, !(1...36_500).contains(days) { throw CLIError("--days must be 1…36500") }
            let scope = ConsentScope(
                categories: try list(category).map { name in
                    guard let c = SensitivityCategory(rawValue: name) else { throw CLIError("unknown category “\(name)”") }
                    return c
                },
                resourceTypes: list(resourceType), records: try list(record).map { try hexID($0, "record id") })
            let purposes = try list(purpose).map { name in
                guard let p = Purpose(rawValue: name) else { throw CLIError("unknown purpose “\(name)”") }
                return p
            }
            let actions = try list(action).map { name in
                guard let a = ConsentAction(rawValue: name) else { throw CLIError("unknown action “\(name)”") }
                return a
            }
            let id = try await withLedger(directory) { ledger in
                let headTimeMs = await ledger.node.nextBlockTimeMs
                let end = days.map { Int64($0) * 86_400_000 + headTimeMs }
                return try await ledger.grantConsent(signer: keys, patient: patientID, grantee: grantee, scope: scope, purposes: purposes,
                                                     actions: actions, endMs: end)
            }
            if json { Terminal.json(["consent": id.hex]) } else { Terminal.line("consent \(id.hex) granted") }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a consent; every decision after its block denies.")
        @OptionGroup var signing: PatientSignerOptions
        @Argument(help: "Consent id (64 hex).") var consent: String

        func run() async throws {
            let (directory, keys, patientID) = try signing.resolve()
            let id = try hexID(consent, "consent id")
            let receipt = try await withLedger(directory) { ledger in try await ledger.revokeConsent(signer: keys, patient: patientID, consent: id) }
            Terminal.line("consent \(id.hex) revoked at block \(receipt.status.height)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a patient's consents, active and revoked.")
        @OptionGroup var options: DataOption
        @Option(help: "The patient (key name or id).") var patient: String
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let directory = options.directory
            let patientID = try directory.identityID(patient)
            let store = try directory.openStore()
            var rows: [[String: Any]] = []
            var after: String?
            while true {
                let page = try store.states(prefix: ConsentIndex.grantPrefix(patientID), after: after, limit: 500)
                for (key, value) in page {
                    guard let id = Hash256(hex: String(key.suffix(64))), let c = ConsentIndex.decodeConsent(id, value) else { continue }
                    rows.append([
                        "consent": id.hex, "grantee": c.grantee.description, "purposes": c.purposes.map(\.rawValue),
                        "actions": c.actions.map(\.rawValue), "categories": c.scope.categories.map(\.rawValue),
                        "resourceTypes": c.scope.resourceTypes, "records": c.scope.records.map(\.hex), "grantedHeight": c.grantedHeight,
                        "endMs": c.endMs.map { $0 as Any } ?? NSNull(), "status": c.isRevoked ? "revoked" : "active",
                    ])
                }
                guard page.count == 500 else { break }
                after = page.last?.key
            }
            if json { Terminal.json(["patient": patientID.hex, "consents": rows]); return }
            if rows.isEmpty { Terminal.line("no consents") }
            for row in rows {
                let purposes = (row["purposes"] as! [String]).joined(separator: ",")
                Terminal.line("\(row["consent"]!)  \(pad(row["status"] as! String, 7))  \(row["grantee"]!)  \(purposes)  \((row["actions"] as! [String]).joined(separator: ","))")
            }
        }
    }
}

/// `careledger access-log`: everything that happened to a patient's records.
struct AccessLogCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "access-log",
        abstract: "Show who accessed which of a patient's records, when, why, what was denied, and break-glass notices.")
    @OptionGroup var options: DataOption
    @Option(help: "The patient (key name or id). With the patient's key, break-glass justifications are decrypted.") var patient: String
    @Flag(help: "Check each entry's inclusion proof against the audit tree head anchored on-chain.") var prove = false
    @Flag(help: "Print JSON.") var json = false

    func run() async throws {
        let directory = options.directory
        let patientID = try directory.identityID(patient)
        let patientKeys = try? directory.loadKey(patient)
        let (log, notices, proofs) = try await withLedger(directory) { ledger in
            try await ledger.anchorAudit()
            let log = try ledger.access.accessLog(patientID, as: nil, after: nil, limit: AccessService.pageEntriesMax)
            let notices = try ledger.access.breakGlassNotices(patientID, as: nil)
            var proofs: [UInt64: Bool] = [:]
            if prove {
                let anchorer = try ledger.auditAnchorer()
                for row in log["entries"] as? [JSONObject] ?? [] {
                    guard let index = row["index"] as? UInt64 else { continue }
                    proofs[index] = (try? ledger.access.auditProof(index: index, anchorer: anchorer).verify()) != nil
                }
            }
            return (log, notices, proofs)
        }
        let rows: [JSONObject] = (log["entries"] as? [JSONObject] ?? []).map { entry in
            var row = entry
            if let sealed = (row["sealed_justification"] as? String).flatMap({ Data(base64Encoded: $0) }), let keys = patientKeys {
                row["justification"] = (try? SealedNote.open(Array(sealed), recipient: patientID, with: keys.agreement)) ?? "(cannot decrypt)"
            }
            if prove { row["proven"] = row["index"].flatMap { $0 as? UInt64 }.flatMap { proofs[$0] } ?? false }
            return row
        }
        if json {
            Terminal.json(["patient": patientID.hex, "entries": rows, "break_glass_notices": notices])
            return
        }
        for n in notices {
            Terminal.line("! break-glass by \(String(describing: n["requester"]!).prefix(16))… at block \(n["height"]!) (\(n["reason"]!)), until \(isoTime(n["expires_ms"] as! Int64))")
        }
        for row in rows {
            let mark = row["outcome"] as! String == "deny" ? "✗" : (row["outcome"] as! String == "permit" ? "✓" : "!")
            var line = "\(mark) #\(row["index"]!) \(isoTime(row["time_ms"] as! Int64)) \((row["requester"] as! String).prefix(16))… "
                + "record \((row["record"] as! String).prefix(16))… \(row["purpose"]!) \(row["outcome"]!) (\(row["reason"]!))"
            if prove { line += (row["proven"] as! Bool) ? " proven" : " NOT PROVEN" }
            Terminal.line(line)
            if let text = row["justification"] { Terminal.line("    justification: \(text)") }
        }
        if prove, proofs.values.contains(false) { throw exitRejected }
    }
}

/// `careledger break-glass`: emergency access without consent.
struct BreakGlassCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "break-glass",
        abstract: "Emergency read without consent: needs the emergency-clinician role; time-limited, flagged, on-chain, patient notified.")
    @OptionGroup var options: DataOption
    @Argument(help: "Record id (64 hex).") var record: String
    @Option(name: .customLong("as"), help: "The emergency clinician's key.") var requester: String
    @Option(help: "Reason: \(BreakGlassReason.allCases.map(\.rawValue).joined(separator: ", ")).") var reason: String
    @Option(help: "Free-text justification (≤ 1 KiB); stored sealed to the patient, never in plaintext.") var justification: String
    @Option(help: "Minutes the access lasts (1…240).") var minutes = 60
    @Option(help: "Write the decrypted resource to this file (0600) instead of standard output.") var out: String?

    func run() async throws {
        guard let reason = BreakGlassReason(rawValue: reason) else { throw CLIError("unknown reason “\(reason)”") }
        guard (1...Int(ConsentContract.breakGlassMinutesMax)).contains(minutes) else { throw CLIError("--minutes must be 1…240") }
        let directory = options.directory
        let id = try hexID(record, "record id")
        let keys = try directory.loadKey(requester)
        let (content, release) = try await withLedger(directory) { ledger in
            try await ledger.breakGlass(id, as: keys, reason: reason, justification: justification, minutes: minutes)
        }
        Terminal.error("BREAK-GLASS access granted for \(minutes) min; audit entry #\(release.auditIndex); the patient is notified")
        try writeOutput(content, to: out)
    }
}

/// Splits a comma-separated option; empty when absent.
func list(_ text: String?) -> [String] {
    (text ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
}
