import Console
import ArgumentParser
import Contracts
import Crypto
import Foundation
import LedgerCore
import Node
import Services
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
            let (directory, keys) = try options.directoryAndKey(signer)
            let url = URL(fileURLWithPath: file)
            guard let data = FileManager.default.contents(atPath: url.path) else { throw CLIError("cannot read \(file)") }
            let registration = try TrialFile.register(data, relativeTo: url.deletingLastPathComponent(), directory: directory)
            let trial = registration.trial
            let receipt = try await withLedger(directory) { ledger in
                try await ledger.commit(ledger.sign(keys, registration))
            }
            let hash = registration.protocolHash.hex
            if json { Terminal.json(["trial": trial, "protocolHash": hash, "height": receipt.status.height]) } else {
                Terminal.line("trial \(trial) registered at block \(receipt.status.height) (protocol v1 \(hash.prefix(16))…)")
            }
        }
    }

    /// `trials amend`: the next protocol version.
    struct Amend: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Append a protocol version (as the sponsor); what is not given carries over. Endpoint changes are recorded with it.")
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
            let (directory, keys) = try options.directoryAndKey(signer)
            var amendment = TrialsContract.Amend(
                trial: trial, protocolHash: try digest(file: `protocol`, hash: protocolHash, "--protocol", "--protocol-hash"), reason: reason)
            if let primary { amendment.primaryEndpoints = codeList(primary) }
            if let secondary { amendment.secondaryEndpoints = codeList(secondary) }
            if let consentFormVersion { amendment.consentFormVersion = Int64(consentFormVersion) }
            if !site.isEmpty { amendment.sites = try site.map { try directory.identityID($0) } }
            let version = try await withLedger(directory) { ledger -> TrialVersion in
                try await ledger.commit(ledger.sign(keys, amendment))
                return TrialIndex.trial(trial, in: ledger.node.state)!.current
            }
            Terminal.line("trial \(trial): protocol version \(version.version) in force from block \(version.height)")
            if let change = version.endpointChange { for line in TrialOutput.changeLines(change) { Terminal.line("  \(line)") } }
        }
    }

    /// `trials consent`: research consent to a consent-form version.
    struct Consent: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Give research consent to a trial's consent form (as the patient or a delegate), or re-consent to a newer form.")
        @OptionGroup var signing: PatientSignerOptions
        @Argument(help: "Trial id.") var trial: String
        @Option(help: "The consent-form version consented to (default: the version in force, printed).") var consentFormVersion: Int?
        @Flag(help: "Also agree to be contacted for recruitment (blinded matches by the patient's care providers).") var recruitmentContact = false

        func run() async throws {
            let (directory, keys, patientID) = try signing.resolve()
            let form = try await withLedger(directory) { ledger -> Int64 in
                guard let current = TrialIndex.trial(trial, in: ledger.node.state)?.current else {
                    throw Refused(code: ResultCode.unknownTrial.name, message: "no trial \(trial)")
                }
                let form = Int64(consentFormVersion ?? Int(current.consentFormVersion))
                try await ledger.commit(ledger.sign(keys, TrialsContract.Consent(
                    trial: trial, patient: patientID, consentFormVersion: form, recruitmentContact: recruitmentContact)))
                return form
            }
            Terminal.line("patient \(patientID.hex.prefix(16))… consented to trial \(trial), consent form v\(form)"
                          + (recruitmentContact ? ", with recruitment contact" : ""))
        }
    }

    /// `trials withdraw`: the patient leaves the trial.
    struct Withdraw: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Withdraw from a trial (as the patient or a delegate): no enrollment or data for the patient is accepted afterwards.")
        @OptionGroup var signing: PatientSignerOptions
        @Argument(help: "Trial id.") var trial: String

        func run() async throws {
            let (directory, keys, patientID) = try signing.resolve()
            let receipt = try await withLedger(directory) { ledger in
                try await ledger.commit(ledger.sign(keys, TrialsContract.Withdraw(trial: trial, patient: patientID)))
            }
            Terminal.line("patient \(patientID.hex.prefix(16))… withdrew from trial \(trial) at block \(receipt.status.height)")
        }
    }

    /// `trials enroll`: site staff enroll a consented patient.
    struct Enroll: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Enroll a consented patient (as a clinician or researcher of a trial site).")
        @OptionGroup var options: DataOption
        @Argument(help: "Trial id.") var trial: String
        @Option(name: .customLong("as"), help: "A site clinician's or researcher's key.") var signer: String
        @Option(help: "The patient (key name or id).") var patient: String

        func run() async throws {
            let (directory, keys) = try options.directoryAndKey(signer)
            let patientID = try directory.identityID(patient)
            let receipt = try await withLedger(directory) { ledger in
                try await ledger.commit(ledger.sign(keys, TrialsContract.Enroll(trial: trial, patient: patientID)))
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
            let (directory, keys) = try options.directoryAndKey(signer)
            let patientID = try directory.identityID(participant)
            let hashes = try crf.map { try sha256(file: $0) } + crfHash.map { try hexID($0, "--crf-hash") }
            guard !hashes.isEmpty else { throw CLIError("give at least one --crf FILE or --crf-hash HEX") }
            let batch = try await withLedger(directory) { ledger -> TrialDataBatch in
                try await ledger.commit(ledger.sign(keys, TrialsContract.SubmitData(trial: trial, participant: patientID, crfHashes: hashes, endpoint: endpoint)))
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
            let (directory, keys) = try options.directoryAndKey(signer)
            let hash = try digest(file: results, hash: resultsHash, "--results", "--results-hash")
            let result = try await withLedger(directory) { ledger -> TrialResult in
                try await ledger.commit(ledger.sign(keys, TrialsContract.ReportResults(trial: trial, primaryEndpoints: codeList(primary), resultsHash: hash)))
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
        static let configuration = CommandConfiguration(abstract: "Publish (a new version of) the recruitment eligibility criteria (as the sponsor); this opens recruitment.")
        @OptionGroup var options: DataOption
        @Argument(help: "Trial id.") var trial: String
        @Option(name: .customLong("as"), help: "The sponsor's key, or its researcher's.") var signer: String
        @Option(help: "A coded criterion (e.g. age>=18, ICD10:C34); repeat for each (at most 32).") var criterion: [String] = []
        @Option(help: "The full criteria document (hashed locally).") var document: String?
        @Option(help: "The criteria document's SHA-256 (64 hex), instead of --document.") var documentHash: String?

        func run() async throws {
            let (directory, keys) = try options.directoryAndKey(signer)
            guard !criterion.isEmpty else { throw CLIError("give at least one --criterion") }
            let hash = try digest(file: document, hash: documentHash, "--document", "--document-hash")
            let published = try await withLedger(directory) { ledger -> TrialCriteria in
                try await ledger.commit(ledger.sign(keys, TrialsContract.PublishCriteria(trial: trial, criteriaHash: hash, criteria: criterion)))
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
            let (directory, keys) = try options.directoryAndKey(signer)
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
                    try await ledger.commit(ledger.sign(keys, TrialsContract.RecruitMatch(trial: trial, tokens: Array(chunk))))
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
        static let configuration = CommandConfiguration(abstract: "Show a trial: protocol versions, enrollment, data batches, results with outcome-switching flags, criteria.")
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
