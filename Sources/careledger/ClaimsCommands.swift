import Console
import ArgumentParser
import Contracts
import FHIR
import Foundation
import LedgerCore
import Node
import Services
import Storage

/// `careledger claims`: plans, coverage, prior authorization, claims adjudicated on-chain, payments.
struct ClaimsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "claims",
        abstract: "Insurance claims adjudicated by the claims contract: plans, coverage, prior authorization, submission, payment.",
        discussion: """
            Amounts are decimals in the plan's currency (150.00) and integer minor units on the chain.
            A claim is a FHIR R4 Claim; each item's encounter must reference the record documenting the
            service (Encounter/<id> imported through FHIR, or identifier urn:careledger:record|<record id>).
            """,
        subcommands: [Plan.self, Enroll.self, Authorize.self, Decide.self, Submit.self, Show.self, Pay.self])

    struct Plan: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Register a plan (as a payer or its payer-agent) from a JSON file.",
            discussion: """
                {"plan":"GOLD","currency":"USD","deductible":100.00,"coinsurancePercent":20,"outOfPocketMax":1000.00,
                 "benefits":[{"code":"99213","allowed":150.00},{"code":"70553","allowed":1200.00,"priorAuth":true},
                             {"code":"97110","allowed":50.00,"unitsPerPeriod":12}],
                 "diagnoses":["E11"]}          (diagnoses: ICD-10 prefixes covered; omit for all)
                """)
        @OptionGroup var options: DataOption
        @Option(name: .customLong("as"), help: "The payer's key, or its payer-agent's.") var signer: String
        @Option(help: "The plan JSON file.") var file: String

        func run() async throws {
            let (directory, keys) = try options.directoryAndKey(signer)
            let registration = try PlanFile.registerPlan(try Data(contentsOf: URL(fileURLWithPath: file)))
            let receipt = try await withLedger(directory) { ledger in
                try await ledger.commit(ledger.sign(keys, registration))
            }
            Terminal.line("plan \(registration.plan) registered at block \(receipt.status.height)")
        }
    }

    struct Enroll: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Enroll a patient in a plan for a period; prints the member id for the patient's card.")
        @OptionGroup var options: DataOption
        @Option(name: .customLong("as"), help: "The payer's key, or its payer-agent's.") var signer: String
        @Option(help: "Plan id.") var plan: String
        @Option(help: "The patient (key name or id).") var patient: String
        @Option(help: "First day covered (YYYY-MM-DD).") var from: String
        @Option(help: "First day no longer covered (YYYY-MM-DD).") var to: String
        @Option(help: "The patient's member id (64 hex) to renew; default: a new one.") var member: String?
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let (directory, keys) = try options.directoryAndKey(signer)
            let (patientID, memberID) = (try directory.identityID(patient), try member.map { try hexID($0, "member id") })
            let (startMs, endMs) = (try day(from, "--from"), try day(to, "--to"))
            let enrolled = try await withLedger(directory) { ledger in
                try await ledger.client.enroll(patientID, plan: plan, startMs: startMs, endMs: endMs, memberID: memberID, signer: keys)
            }
            if json { return Terminal.json(["coverage": enrolled.coverage.hex, "member": enrolled.memberID.hex, "height": enrolled.height]) }
            Terminal.line("coverage \(enrolled.coverage.hex) under \(plan), \(from) to \(to), block \(enrolled.height)")
            Terminal.line("member id \(enrolled.memberID.hex) (for the patient's card; the chain holds only its hash with the patient)")
        }
    }

    struct Authorize: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Request prior authorization for a service (as a provider).")
        @OptionGroup var options: DataOption
        @Option(name: .customLong("as"), help: "A provider organization's key or its clinical/billing staff's.") var signer: String
        @Option(help: "Plan id.") var plan: String
        @Option(help: "The patient (key name or id).") var patient: String
        @Option(help: "Billing code (CPT/HCPCS).") var code: String
        @Option(help: "Units requested.") var quantity = 1
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let (directory, keys) = try options.directoryAndKey(signer)
            let request = ClaimsContract.RequestAuthorization(plan: plan, patient: try directory.identityID(patient), code: code,
                                                              quantity: Int64(quantity))
            let receipt = try await withLedger(directory) { ledger in
                try await ledger.commit(ledger.sign(keys, request))
            }
            let id = receipt.status.transactionID
            if json { Terminal.json(["authorization": id.hex, "status": "pending"]) } else { Terminal.line("authorization \(id.hex) pending") }
        }
    }

    struct Decide: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Approve or deny a prior authorization (as the plan's payer).")
        @OptionGroup var options: DataOption
        @Argument(help: "Authorization id (64 hex).") var authorization: String
        @Option(name: .customLong("as"), help: "The payer's key, or its payer-agent's.") var signer: String
        @Flag(help: "Approve.") var approve = false
        @Option(help: "Deny, with this reason.") var deny: String?
        @Option(help: "Units approved (default: as requested).") var quantity: Int?
        @Option(help: "Approval valid for services before this day (YYYY-MM-DD; at most a year ahead).") var until: String?

        func run() async throws {
            let (directory, keys) = try options.directoryAndKey(signer)
            let id = try hexID(authorization, "authorization id")
            let decision: ClaimsContract.DecideAuthorization
            switch (approve, deny) {
            case (true, nil):
                guard let until else { throw CLIError("--approve needs --until") }
                decision = ClaimsContract.DecideAuthorization(authorization: id, approve: true, quantity: quantity.map(Int64.init),
                                                              validUntilMs: try day(until, "--until"))
            case (false, let reason?):
                decision = ClaimsContract.DecideAuthorization(authorization: id, approve: false, reason: reason)
            default: throw CLIError("give exactly one of --approve and --deny")
            }
            let receipt = try await withLedger(directory) { ledger in
                try await ledger.commit(ledger.sign(keys, decision))
            }
            Terminal.line("authorization \(id.hex) \(approve ? "approved" : "denied") at block \(receipt.status.height)")
        }
    }

    struct Submit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Submit a FHIR Claim; the contract adjudicates it in its block and the response is printed.")
        @OptionGroup var options: DataOption
        @Argument(help: "A FHIR R4 Claim JSON file.") var file: String
        @Option(name: .customLong("as"), help: "A provider organization's key or its clinical/billing staff's.") var signer: String
        @Option(help: "The patient (key name or id); default: the ledger patient of the Claim's Patient reference.") var patient: String?
        @Option(help: "Plan id; default: the plan of Claim.insurance.coverage.identifier (system urn:careledger:member:<plan>).") var plan: String?
        @Option(help: "The patient's member id (64 hex); default: Claim.insurance.coverage.identifier's value.") var member: String?
        @Flag(help: "Print the FHIR ClaimResponse.") var json = false

        func run() async throws {
            let (directory, keys) = try options.directoryAndKey(signer)
            let claim: [String: Any]
            do { claim = try FHIRJSON.object(Array(try Data(contentsOf: URL(fileURLWithPath: file)))) } catch let error as FHIRError {
                throw CLIError("\(file): \(error.diagnostics)")
            }
            let (patientID, memberID) = (try patient.map { try directory.identityID($0) }, try member.map { try hexID($0, "member id") })
            let entry = try await withLedger(directory) { ledger -> ClaimEntry in
                do { return try await ledger.fhir.submitClaim(claim, signer: keys, patient: patientID, plan: plan, memberID: memberID) } catch let error as FHIRError {
                    throw CLIError("\(file): \(error.diagnostics)")
                }
            }
            try ClaimOutput.print(entry, view: try LedgerView.of(try directory.openStore()), fhir: json)
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a claim's adjudication and payments.")
        @OptionGroup var options: DataOption
        @Argument(help: "Claim id (64 hex).") var claim: String
        @Flag(help: "Print JSON (the same as GET /v1/claims/{id}).") var json = false
        @Flag(help: "Print the FHIR ClaimResponse.") var fhir = false

        func run() async throws {
            let view = try LedgerView.of(try options.directory.openStore())
            let id = try hexID(claim, "claim id")
            if json { return Terminal.json(try await view.claim(id, as: nil)) }
            try ClaimOutput.print(try await view.claimEntry(id, as: nil), view: view, fhir: fhir)
        }
    }

    struct Pay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Record a payment against a claim (as the plan's payer).")
        @OptionGroup var options: DataOption
        @Argument(help: "Claim id (64 hex).") var claim: String
        @Option(name: .customLong("as"), help: "The payer's key, or its payer-agent's.") var signer: String
        @Option(help: "Amount, a decimal in the plan's currency (default: everything still owed).") var amount: String?
        @Option(help: "Remittance reference (EFT trace number); only its SHA-256 goes on-chain.") var reference: String

        func run() async throws {
            let (directory, keys) = try options.directoryAndKey(signer)
            let id = try hexID(claim, "claim id")
            let entry = try await withLedger(directory) { ledger -> ClaimEntry in
                guard let entry = ClaimsContract.claim(id, in: ledger.node.state) else { throw CLIError("no claim \(id.hex)") }
                let currency = ClaimsContract.plan(entry.plan, in: ledger.node.state)?.currency ?? "USD"
                var minor: Int64?
                if let amount {
                    guard let value = Decimal(string: amount).map({ NSDecimalNumber(decimal: $0) }) else { throw CLIError("--amount must be a decimal") }
                    do throws(FHIRError) { minor = try ClaimMapping.minorUnits(value, currency: currency, at: "--amount") } catch { throw CLIError(error.diagnostics) }
                }
                return try await ledger.client.payClaim(id, amountMinor: minor, reference: Hash256.sha256(Array(reference.utf8)), signer: keys)
            }
            let currency = (try? directory.openStore()).flatMap { ClaimsContract.plan(entry.plan, in: StoreStateReader(store: $0))?.currency } ?? "USD"
            Terminal.line("claim \(id.hex): paid \(ClaimMapping.decimal(entry.paidMinor, currency)) of \(ClaimMapping.decimal(entry.payerMinor, currency)) \(currency)")
        }
    }
}

/// Prints a claim's adjudication as a table, or its FHIR ClaimResponse.
enum ClaimOutput {
    static func print(_ entry: ClaimEntry, view: LedgerView, fhir: Bool) throws {
        let plan = ClaimsContract.plan(entry.plan, in: view.state)
        let currency = plan?.currency ?? "USD"
        if fhir { return Terminal.json(ClaimMapping.claimResponse(entry, currency: currency, payer: plan?.payer, patientID: nil)) }
        for line in ClaimText.lines(entry, currency: currency) { Terminal.line(line) }
    }
}
