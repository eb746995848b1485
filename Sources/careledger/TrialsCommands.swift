import ArgumentParser
import Contracts
import Crypto
import Foundation
import LedgerCore
import Node
import Storage

/// `careledger trials`: clinical-trial integrity through the trials contract.
struct TrialsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "trials",
        abstract: "Clinical trials: registration with pre-registered endpoints, amendments, research consent, enrollment, CRF hashes, results with outcome-switching flags, blinded recruitment.",
        discussion: """
            Only hashes, codes and pseudonymous ids go on-chain: protocol documents, case report forms and
            results files are hashed locally (SHA-256) and never leave this machine.
            """,
        subcommands: [Register.self, Amend.self, Consent.self, Withdraw.self, Enroll.self, SubmitData.self, Report.self,
                      Criteria.self, Match.self, Show.self])

    /// `trials register`: a new trial from a JSON file.
    struct Register: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register a trial (as a sponsor organization or its researcher) from a JSON file.",
            discussion: """
                {"trial":"NCT-0001","protocol":"protocol-v1.pdf","consentFormVersion":1,
                 "primaryEndpoints":["PFS"],"secondaryEndpoints":["OS","QOL"],"sites":["general-hospital"]}
                "protocol" is a file (relative paths are relative to the JSON file) hashed locally; or give
                "protocolHash" (64 hex). Sites are local key names or 64-hex organization ids (hospitals,
                clinics, laboratories). Both endpoint lists need at least one code.
                """)
        @OptionGroup var options: DataOption
        @Option(name: .customLong("as"), help: "The sponsor's key, or its researcher's.") var signer: String
        @Option(help: "The trial JSON file.") var file: String
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let directory = options.directory
            let keys = try directory.loadKey(signer)
            let url = URL(fileURLWithPath: file)
            guard let data = FileManager.default.contents(atPath: url.path) else { throw CLIError("cannot read \(file)") }
            let args = try TrialFile.arguments(data, relativeTo: url.deletingLastPathComponent(), directory: directory)
            let trial = args["trial"]?.stringValue ?? ""
            let receipt = try await withLedger(directory) { ledger in
                try await ledger.commit(ledger.sign(keys, contract: "trials", method: "register", args: args))
            }
            let hash = args["protocolHash"]?.bytesValue.map(Hex.encode) ?? ""
            if json { Terminal.json(["trial": trial, "protocolHash": hash, "height": receipt.status.height]) } else {
                Terminal.line("trial \(trial) registered at block \(receipt.status.height) (protocol v1 \(hash.prefix(16))…)")
            }
        }
    }

    /// `trials amend`: the next protocol version.
    struct Amend: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Append a protocol version (as the sponsor); what is not given carries over. Endpoint changes are recorded with it.")
        @OptionGroup var options: DataOption
        @Argument(help: "Trial id.") var trial: String
        @Option(name: .customLong("as"), help: "The sponsor's key, or its researcher's.") var signer: String
        @Option(help: "The amended protocol document (hashed locally).") var `protocol`: String?
        @Option(help: "The amended protocol's SHA-256 (64 hex), instead of --protocol.") var protocolHash: String?
        @Option(help: "Why the protocol changed (at most 200 bytes; on-chain, so no PHI).") var reason: String
        @Option(help: "New primary endpoint codes, comma-separated.") var primary: String?
        @Option(help: "New secondary endpoint codes, comma-separated.") var secondary: String?
        @Option(help: "A new, higher consent-form version (participants must re-consent before enrollment).") var consentFormVersion: Int?
        @Option(help: "Replace the sites (key names or ids); repeat for each site.") var site: [String] = []

        func run() async throws {
            let directory = options.directory
            let keys = try directory.loadKey(signer)
            var args: [String: CanonicalValue] = [
                "trial": .string(trial), "reason": .string(reason),
                "protocolHash": .bytes(try digest(file: `protocol`, hash: protocolHash, "--protocol", "--protocol-hash").bytes),
            ]
            if let primary { args["primaryEndpoints"] = codeList(primary) }
            if let secondary { args["secondaryEndpoints"] = codeList(secondary) }
            if let consentFormVersion { args["consentFormVersion"] = .int(Int64(consentFormVersion)) }
            if !site.isEmpty { args["sites"] = .list(try site.map { .bytes(try directory.identityID($0).bytes) }) }
            let version = try await withLedger(directory) { ledger -> TrialVersion in
                try await ledger.commit(ledger.sign(keys, contract: "trials", method: "amend", args: .map(args)))
                return TrialIndex.trial(trial, in: ledger.node.state)!.current
            }
            Terminal.line("trial \(trial): protocol version \(version.version) in force from block \(version.height)")
            if let change = version.endpointChange { for line in TrialOutput.changeLines(change) { Terminal.line("  \(line)") } }
        }
    }

    /// `trials consent`: research consent to a consent-form version.
    struct Consent: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Give research consent to a trial's consent form (as the patient or a delegate), or re-consent to a newer form.")
        @OptionGroup var options: DataOption
        @Argument(help: "Trial id.") var trial: String
        @Option(name: .customLong("as"), help: "The patient's key, or a delegate's.") var signer: String
        @Option(help: "The patient (key name or id) when a delegate signs; default: the signer.") var patient: String?
        @Option(help: "The consent-form version consented to (default: the version in force, printed).") var consentFormVersion: Int?
        @Flag(help: "Also agree to be contacted for recruitment (blinded matches by the patient's care providers).") var recruitmentContact = false

        func run() async throws {
            let directory = options.directory
            let keys = try directory.loadKey(signer)
            let patientID = try patient.map { try directory.identityID($0) } ?? keys.derivedID
            let form = try await withLedger(directory) { ledger -> Int64 in
                guard let current = TrialIndex.trial(trial, in: ledger.node.state)?.current else {
                    throw Refused(code: ResultCode.unknownTrial.name, message: "no trial \(trial)")
                }
                let form = Int64(consentFormVersion ?? Int(current.consentFormVersion))
                try await ledger.commit(ledger.sign(keys, contract: "trials", method: "consent", args: .map([
                    "trial": .string(trial), "patient": .bytes(patientID.bytes), "consentFormVersion": .int(form),
                    "recruitmentContact": .bool(recruitmentContact)])))
                return form
            }
            Terminal.line("patient \(patientID.hex.prefix(16))… consented to trial \(trial), consent form v\(form)"
                          + (recruitmentContact ? ", with recruitment contact" : ""))
        }
    }

    /// `trials withdraw`: the patient leaves the trial.
    struct Withdraw: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Withdraw from a trial (as the patient or a delegate): no enrollment or data for the patient is accepted afterwards.")
        @OptionGroup var options: DataOption
        @Argument(help: "Trial id.") var trial: String
        @Option(name: .customLong("as"), help: "The patient's key, or a delegate's.") var signer: String
        @Option(help: "The patient (key name or id) when a delegate signs; default: the signer.") var patient: String?

        func run() async throws {
            let directory = options.directory
            let keys = try directory.loadKey(signer)
            let patientID = try patient.map { try directory.identityID($0) } ?? keys.derivedID
            let receipt = try await withLedger(directory) { ledger in
                try await ledger.commit(ledger.sign(keys, contract: "trials", method: "withdraw", args: .map([
                    "trial": .string(trial), "patient": .bytes(patientID.bytes)])))
            }
            Terminal.line("patient \(patientID.hex.prefix(16))… withdrew from trial \(trial) at block \(receipt.status.height)")
        }
    }

    /// `trials enroll`: site staff enroll a consented patient.
    struct Enroll: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Enroll a consented patient (as a clinician or researcher of a trial site).")
        @OptionGroup var options: DataOption
        @Argument(help: "Trial id.") var trial: String
        @Option(name: .customLong("as"), help: "A site clinician's or researcher's key.") var signer: String
        @Option(help: "The patient (key name or id).") var patient: String

        func run() async throws {
            let directory = options.directory
            let keys = try directory.loadKey(signer)
            let patientID = try directory.identityID(patient)
            let receipt = try await withLedger(directory) { ledger in
                try await ledger.commit(ledger.sign(keys, contract: "trials", method: "enroll", args: .map([
                    "trial": .string(trial), "patient": .bytes(patientID.bytes)])))
            }
            Terminal.line("patient \(patientID.hex.prefix(16))… enrolled in trial \(trial) at block \(receipt.status.height)")
        }
    }

    /// `trials submit-data`: a batch of CRF hashes for one participant and endpoint.
    struct SubmitData: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "submit-data",
            abstract: "Anchor case-report-form hashes for an enrolled participant and a pre-registered endpoint (as site staff).",
            discussion: "CRF files are hashed locally; only their SHA-256 goes on-chain. Each hash is anchored once; at most 256 per batch.")
        @OptionGroup var options: DataOption
        @Argument(help: "Trial id.") var trial: String
        @Option(name: .customLong("as"), help: "A site clinician's or researcher's key.") var signer: String
        @Option(help: "The participant (key name or id).") var participant: String
        @Option(help: "The pre-registered endpoint code the data is for.") var endpoint: String
        @Option(help: "A case report form file to hash; repeat for each.") var crf: [String] = []
        @Option(help: "A CRF's SHA-256 (64 hex) computed elsewhere; repeat for each.") var crfHash: [String] = []
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let directory = options.directory
            let keys = try directory.loadKey(signer)
            let patientID = try directory.identityID(participant)
            let hashes = try crf.map { try sha256(file: $0) } + crfHash.map { try hexID($0, "--crf-hash") }
            guard !hashes.isEmpty else { throw CLIError("give at least one --crf FILE or --crf-hash HEX") }
            let batch = try await withLedger(directory) { ledger -> TrialDataBatch in
                try await ledger.commit(ledger.sign(keys, contract: "trials", method: "submitData", args: .map([
                    "trial": .string(trial), "participant": .bytes(patientID.bytes), "endpoint": .string(endpoint),
                    "crfHashes": .list(hashes.map { .bytes($0.bytes) })])))
                let count = TrialIndex.dataBatchCount(trial: trial, in: ledger.node.state)
                return TrialIndex.dataBatch(trial: trial, index: count, in: ledger.node.state)!
            }
            if json {
                Terminal.json(["trial": trial, "batch": batch.index, "height": batch.height, "crfHashes": hashes.map(\.hex)])
            } else {
                Terminal.line("trial \(trial): data batch \(batch.index) anchored at block \(batch.height) (endpoint \(endpoint), protocol v\(batch.protocolVersion))")
                for hash in hashes { Terminal.line("  crf \(hash.hex)") }
            }
        }
    }

    /// `trials report`: a results report, flagged when it switches outcomes.
    struct Report: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Report results (as the sponsor): primary endpoints reported and the results document's hash.",
            discussion: """
                A report whose primary endpoints differ from those pre-registered by the protocol version in
                force is accepted but FLAGGED as outcome switching, on-chain, with the added and dropped endpoints.
                """)
        @OptionGroup var options: DataOption
        @Argument(help: "Trial id.") var trial: String
        @Option(name: .customLong("as"), help: "The sponsor's key, or its researcher's.") var signer: String
        @Option(help: "Primary endpoint codes reported, comma-separated.") var primary: String
        @Option(help: "The results document (hashed locally).") var results: String?
        @Option(help: "The results document's SHA-256 (64 hex), instead of --results.") var resultsHash: String?
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let directory = options.directory
            let keys = try directory.loadKey(signer)
            let hash = try digest(file: results, hash: resultsHash, "--results", "--results-hash")
            let result = try await withLedger(directory) { ledger -> TrialResult in
                try await ledger.commit(ledger.sign(keys, contract: "trials", method: "reportResults", args: .map([
                    "trial": .string(trial), "primaryEndpoints": codeList(primary), "resultsHash": .bytes(hash.bytes)])))
                return TrialIndex.results(trial: trial, in: ledger.node.state).last!
            }
            if json { Terminal.json(TrialOutput.json(result)) } else {
                Terminal.line("trial \(trial): results report \(result.index) recorded at block \(result.height) (primary \(result.primaryEndpoints.joined(separator: ", ")); results \(result.resultsHash.hex.prefix(16))…)")
                if let flag = result.flag { Terminal.line(TrialOutput.flagLine(flag)) }
            }
        }
    }

    /// `trials criteria`: recruitment eligibility criteria.
    struct Criteria: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Publish (a new version of) the recruitment eligibility criteria (as the sponsor); this opens recruitment.")
        @OptionGroup var options: DataOption
        @Argument(help: "Trial id.") var trial: String
        @Option(name: .customLong("as"), help: "The sponsor's key, or its researcher's.") var signer: String
        @Option(help: "A coded criterion (e.g. age>=18, ICD10:C34); repeat for each (at most 32).") var criterion: [String] = []
        @Option(help: "The full criteria document (hashed locally).") var document: String?
        @Option(help: "The criteria document's SHA-256 (64 hex), instead of --document.") var documentHash: String?

        func run() async throws {
            let directory = options.directory
            let keys = try directory.loadKey(signer)
            guard !criterion.isEmpty else { throw CLIError("give at least one --criterion") }
            let hash = try digest(file: document, hash: documentHash, "--document", "--document-hash")
            let published = try await withLedger(directory) { ledger -> TrialCriteria in
                try await ledger.commit(ledger.sign(keys, contract: "trials", method: "publishCriteria", args: .map([
                    "trial": .string(trial), "criteriaHash": .bytes(hash.bytes), "criteria": .list(criterion.map { .string($0) })])))
                return TrialIndex.criteria(trial: trial, in: ledger.node.state)!
            }
            Terminal.line("trial \(trial): criteria v\(published.version) published at block \(published.height): \(published.criteria.joined(separator: "; "))")
        }
    }

    /// `trials match`: blinded recruitment match tokens.
    struct Match: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Announce blinded recruitment matches (as a hospital or clinic, or its clinician or researcher).",
            discussion: """
                The custodian matches its patients against the published criteria off-chain and names the
                candidates here. For each candidate who holds a standing trial consent with recruitment
                contact (TrialsContract.mayContactForRecruitment), a token SHA-256(trial ‖ patient ‖ secret) is
                computed locally (TrialIndex.matchToken); only the tokens go on-chain. The secret is 32 random
                bytes per custodian organization, kept in DATA/match-secrets/ (0600); the same patient always
                gives the same token, so announcing a patient twice is refused.
                """)
        @OptionGroup var options: DataOption
        @Argument(help: "Trial id.") var trial: String
        @Option(name: .customLong("as"), help: "A hospital's or clinic's key, or its clinician's or researcher's.") var signer: String
        @Option(help: "A candidate patient (key name or id); repeat for each.") var patient: [String] = []
        @Option(help: "A file of candidate patients, one key name or id per line.") var patientsFile: String?
        @Flag(help: "Print JSON (the announced tokens).") var json = false

        func run() async throws {
            let directory = options.directory
            let keys = try directory.loadKey(signer)
            var names = patient
            if let patientsFile {
                guard let text = try? String(contentsOfFile: patientsFile, encoding: .utf8) else { throw CLIError("cannot read \(patientsFile)") }
                names += text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            }
            guard !names.isEmpty else { throw CLIError("name the candidates with --patient or --patients-file") }
            let candidates = try names.map { try directory.identityID($0) }
            let (tokens, skipped) = try await withLedger(directory) { ledger -> ([Hash256], Int) in
                guard let signerIdentity = Directory.identity(keys.derivedID, in: ledger.node.state) else {
                    throw CLIError("\(signer) is not registered")
                }
                let custodian = signerIdentity.kind == .organization ? signerIdentity.id : (signerIdentity.organization ?? signerIdentity.id)
                let secret = try directory.matchSecret(custodian: custodian)
                var tokens: [Hash256] = [], skipped = 0
                for candidate in Set(candidates).sorted() {
                    guard TrialsContract.mayContactForRecruitment(trial: trial, patient: candidate, in: ledger.node.state) else {
                        skipped += 1
                        continue
                    }
                    tokens.append(TrialIndex.matchToken(trial: trial, patient: candidate, secret: secret))
                }
                // Announce in sorted order, so the order reveals nothing about the candidates.
                tokens.sort()
                var start = 0
                while start < tokens.count {
                    let chunk = tokens[start..<min(start + TrialsContract.matchTokensPerCallMax, tokens.count)]
                    try await ledger.commit(ledger.sign(keys, contract: "trials", method: "recruitMatch", args: .map([
                        "trial": .string(trial), "tokens": .list(chunk.map { .bytes($0.bytes) })])))
                    start += chunk.count
                }
                return (tokens, skipped)
            }
            if json { Terminal.json(["trial": trial, "announced": tokens.map(\.hex), "skipped": skipped]) } else {
                Terminal.line("trial \(trial): announced \(tokens.count) blinded match token(s); \(skipped) candidate(s) skipped locally (no standing consent to recruitment contact)")
            }
        }
    }

    /// `trials show`: a trial as the chain records it.
    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a trial: protocol versions, enrollment, data batches, results with outcome-switching flags, criteria.")
        @OptionGroup var options: DataOption
        @Argument(help: "Trial id.") var trial: String
        @Option(help: "Also show this patient's standing (key name or id).") var participant: String?
        @Option(help: "Data batches listed (the latest ones).") var batches = 20
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let directory = options.directory
            let state = StoreStateReader(store: try directory.openStore())
            guard let entry = TrialIndex.trial(trial, in: state) else { throw CLIError("no trial \(trial)") }
            let patientID = try participant.map { try directory.identityID($0) }
            let output = TrialOutput(names: directory.localNames())
            if json { Terminal.json(output.json(entry, patient: patientID, batches: batches, state: state)) } else {
                for line in output.lines(entry, patient: patientID, batches: batches, state: state) { Terminal.line(line) }
            }
        }
    }
}

/// A comma-separated code list as a canonical list of strings (empty items dropped).
func codeList(_ text: String) -> CanonicalValue {
    .list(text.split(separator: ",").map { .string($0.trimmingCharacters(in: .whitespaces)) }.filter { $0.stringValue?.isEmpty == false })
}

/// SHA-256 of a file, read in 1 MiB chunks (documents and CRFs may be large).
func sha256(file path: String) throws -> Hash256 {
    guard let handle = FileHandle(forReadingAtPath: path) else { throw CLIError("cannot read \(path)") }
    defer { try? handle.close() }
    var hasher = SHA256()
    while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
    return Hash256(bytes: Array(hasher.finalize()))!
}

/// Exactly one of a file (hashed locally) and a 64-hex hash.
func digest(file: String?, hash: String?, _ fileOption: String, _ hashOption: String) throws -> Hash256 {
    switch (file, hash) {
    case (let file?, nil): return try sha256(file: file)
    case (nil, let hash?): return try hexID(hash, hashOption)
    default: throw CLIError("give exactly one of \(fileOption) FILE and \(hashOption) HEX")
    }
}

extension DataDirectory {
    /// Local key names by identity id, to label ids in output (keys that fail to load are skipped).
    func localNames() -> [IdentityID: String] {
        var names: [IdentityID: String] = [:]
        for name in (try? keyNames()) ?? [] {
            if let keys = try? loadKey(name) { names[keys.derivedID] = name }
        }
        return names
    }

    /// The custodian organization's recruitment-match secret: 32 random bytes made on first use, kept 0600.
    func matchSecret(custodian: IdentityID) throws -> [UInt8] {
        let folder = url.appendingPathComponent("match-secrets")
        let file = folder.appendingPathComponent("\(custodian.hex).secret")
        if let data = FileManager.default.contents(atPath: file.path) {
            guard data.count == 32 else { throw CLIError("\(file.path) is damaged (not 32 bytes)") }
            return Array(data)
        }
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let secret = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
        guard FileManager.default.createFile(atPath: file.path, contents: Data(secret), attributes: [.posixPermissions: 0o600]) else {
            throw CLIError("cannot create \(file.path)")
        }
        return secret
    }
}

/// The trial file of `trials register`, as `trials.register` arguments.
enum TrialFile {
    /// Parses the file; a relative protocol path is resolved against `base`, sites against local key names.
    static func arguments(_ data: Data, relativeTo base: URL, directory: DataDirectory) throws -> CanonicalValue {
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { throw CLIError("the trial file is not a JSON object") }
        guard let trial = object["trial"] as? String else { throw CLIError("the trial file needs “trial” (its id)") }
        let protocolHash: Hash256
        switch (object["protocol"] as? String, object["protocolHash"] as? String) {
        case (let path?, nil): protocolHash = try sha256(file: path.hasPrefix("/") ? path : base.appendingPathComponent(path).path)
        case (nil, let hex?): protocolHash = try hexID(hex, "protocolHash")
        default: throw CLIError("the trial file needs exactly one of “protocol” (a file) and “protocolHash” (64 hex)")
        }
        guard let form = object["consentFormVersion"] as? Int else { throw CLIError("the trial file needs “consentFormVersion” (an integer)") }
        func codes(_ key: String) throws -> [String] {
            guard let list = object[key] as? [String], !list.isEmpty else { throw CLIError("the trial file needs “\(key)”: a non-empty list of codes") }
            return list
        }
        guard let sites = object["sites"] as? [String], !sites.isEmpty else {
            throw CLIError("the trial file needs “sites”: key names or ids of the site organizations")
        }
        return .map([
            "trial": .string(trial), "protocolHash": .bytes(protocolHash.bytes), "consentFormVersion": .int(Int64(form)),
            "primaryEndpoints": .list(try codes("primaryEndpoints").map { .string($0) }),
            "secondaryEndpoints": .list(try codes("secondaryEndpoints").map { .string($0) }),
            "sites": .list(try sites.map { .bytes(try directory.identityID($0).bytes) }),
        ])
    }
}

/// Readable and JSON forms of a trial, shared by `trials show`, `trials report` and the demo.
struct TrialOutput {
    /// Local key names by id, used to label ids.
    var names: [IdentityID: String] = [:]

    /// An id with its local key name when known.
    func label(_ id: IdentityID) -> String { names[id].map { "\($0) (\(id.hex.prefix(12))…)" } ?? "\(id.hex.prefix(16))…" }

    /// The flag line `trials report` and `show` print for an outcome-switching report.
    static func flagLine(_ flag: OutcomeSwitchFlag) -> String {
        var text = "FLAGGED: outcome switching against protocol v\(flag.protocolVersion) — added \(list(flag.added)); dropped \(list(flag.dropped))"
        if !flag.neverRegistered.isEmpty { text += "; never pre-registered: \(list(flag.neverRegistered))" }
        return text + " (pre-registered primary: \(list(flag.inForcePrimary)))"
    }

    /// Endpoint changes declared by an amendment, one line per kind.
    static func changeLines(_ change: TrialEndpointChange) -> [String] {
        var out: [String] = []
        if !change.primaryAdded.isEmpty || !change.primaryDropped.isEmpty {
            out.append("primary endpoints declared: +\(list(change.primaryAdded)) −\(list(change.primaryDropped))")
        }
        if !change.secondaryAdded.isEmpty || !change.secondaryDropped.isEmpty {
            out.append("secondary endpoints declared: +\(list(change.secondaryAdded)) −\(list(change.secondaryDropped))")
        }
        return out
    }

    /// Codes joined with commas, or “none”.
    static func list(_ items: [String]) -> String { items.isEmpty ? "none" : items.joined(separator: ", ") }

    /// The readable form of `trials show`: versions, counts, the latest `batches` data batches, results, criteria.
    func lines(_ trial: Trial, patient: IdentityID?, batches: Int, state: any StateReader) -> [String] {
        var out = ["trial \(trial.id) — sponsor \(label(trial.sponsor)), registered at block \(trial.height)"]
        for version in trial.versions {
            var line = "  protocol v\(version.version) (block \(version.height)): \(version.protocolHash.hex.prefix(16))…, consent form v\(version.consentFormVersion), "
                + "primary \(Self.list(version.primaryEndpoints)), secondary \(Self.list(version.secondaryEndpoints)), sites \(version.sites.map(label).joined(separator: ", "))"
            if let reason = version.reason { line += ", reason “\(reason)”, after \(version.dataBatchesBefore) data batch(es)" }
            out.append(line)
            if let change = version.endpointChange { out += Self.changeLines(change).map { "      \($0)" } }
        }
        out.append("  participants enrolled: \(trial.participantCount)")
        out.append("  data batches: \(trial.dataBatchCount)")
        let first = trial.dataBatchCount > UInt64(max(batches, 0)) ? trial.dataBatchCount - UInt64(max(batches, 0)) + 1 : 1
        if trial.dataBatchCount > 0 && batches > 0 {
            for index in first...trial.dataBatchCount {
                guard let batch = TrialIndex.dataBatch(trial: trial.id, index: index, in: state) else { continue }
                out.append("    \(batch.index). participant \(label(batch.participant)), endpoint \(batch.endpoint), \(batch.crfHashes.count) CRF hash(es), site \(label(batch.site)), protocol v\(batch.protocolVersion), block \(batch.height)")
            }
        }
        let results = TrialIndex.results(trial: trial.id, in: state)
        out.append("  results reports: \(results.count)")
        for result in results {
            out.append("    \(result.index). primary \(Self.list(result.primaryEndpoints)), results \(result.resultsHash.hex.prefix(16))…, protocol v\(result.protocolVersion), block \(result.height)")
            if let flag = result.flag { out.append("       \(Self.flagLine(flag))") }
        }
        if let criteria = TrialIndex.criteria(trial: trial.id, in: state) {
            out.append("  recruitment criteria v\(criteria.version): \(criteria.criteria.joined(separator: "; ")) (document \(criteria.criteriaHash.hex.prefix(16))…)")
        } else {
            out.append("  recruitment: no criteria published")
        }
        if let patient {
            if let standing = TrialIndex.participant(trial: trial.id, patient: patient, in: state) {
                out.append("  patient \(label(patient)): \(standing.status.rawValue), consent form v\(standing.consentFormVersion), recruitment contact \(standing.recruitmentContact ? "yes" : "no")")
            } else {
                out.append("  patient \(label(patient)): no trial consent")
            }
        }
        return out
    }

    /// One results report (with its flag) as JSON.
    static func json(_ result: TrialResult) -> [String: Any] {
        var row: [String: Any] = [
            "index": result.index, "primaryEndpoints": result.primaryEndpoints, "resultsHash": result.resultsHash.hex,
            "protocolVersion": result.protocolVersion, "primaryChangedByAmendment": result.primaryChangedByAmendment,
            "reporter": result.reporter.hex, "height": result.height, "flagged": result.isFlagged,
        ]
        if let flag = result.flag {
            row["flag"] = ["protocolVersion": flag.protocolVersion, "added": flag.added, "dropped": flag.dropped,
                           "neverRegistered": flag.neverRegistered, "version1Primary": flag.version1Primary,
                           "inForcePrimary": flag.inForcePrimary] as [String: Any]
        }
        return row
    }

    /// The JSON form of `trials show`.
    func json(_ trial: Trial, patient: IdentityID?, batches: Int, state: any StateReader) -> [String: Any] {
        let versions: [[String: Any]] = trial.versions.map { version in
            var row: [String: Any] = [
                "version": version.version, "protocolHash": version.protocolHash.hex, "consentFormVersion": version.consentFormVersion,
                "primaryEndpoints": version.primaryEndpoints, "secondaryEndpoints": version.secondaryEndpoints,
                "sites": version.sites.map(\.hex), "dataBatchesBefore": version.dataBatchesBefore, "author": version.author.hex,
                "height": version.height,
            ]
            if let reason = version.reason { row["reason"] = reason }
            if let change = version.endpointChange {
                row["endpointChange"] = ["primaryAdded": change.primaryAdded, "primaryDropped": change.primaryDropped,
                                         "secondaryAdded": change.secondaryAdded, "secondaryDropped": change.secondaryDropped]
            }
            return row
        }
        var list: [[String: Any]] = []
        if trial.dataBatchCount > 0 && batches > 0 {
            let first = trial.dataBatchCount > UInt64(batches) ? trial.dataBatchCount - UInt64(batches) + 1 : 1
            for index in first...trial.dataBatchCount {
                guard let batch = TrialIndex.dataBatch(trial: trial.id, index: index, in: state) else { continue }
                list.append(["index": batch.index, "participant": batch.participant.hex, "endpoint": batch.endpoint,
                             "crfHashes": batch.crfHashes.map(\.hex), "site": batch.site.hex, "submitter": batch.submitter.hex,
                             "protocolVersion": batch.protocolVersion, "height": batch.height])
            }
        }
        let results = TrialIndex.results(trial: trial.id, in: state)
        var out: [String: Any] = [
            "trial": trial.id, "sponsor": trial.sponsor.hex, "registeredBy": trial.registeredBy.hex, "height": trial.height,
            "versions": versions, "participantCount": trial.participantCount, "dataBatchCount": trial.dataBatchCount,
            "dataBatches": list, "results": results.map(Self.json), "flagged": results.contains { $0.isFlagged },
        ]
        if let criteria = TrialIndex.criteria(trial: trial.id, in: state) {
            out["criteria"] = ["version": criteria.version, "criteria": criteria.criteria, "criteriaHash": criteria.criteriaHash.hex,
                               "height": criteria.height] as [String: Any]
        }
        if let patient {
            if let standing = TrialIndex.participant(trial: trial.id, patient: patient, in: state) {
                out["participant"] = ["patient": patient.hex, "status": standing.status.rawValue,
                                      "consentFormVersion": standing.consentFormVersion, "recruitmentContact": standing.recruitmentContact]
            } else {
                out["participant"] = ["patient": patient.hex, "status": "none"]
            }
        }
        return out
    }
}
