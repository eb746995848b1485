import Console
import ArgumentParser
import Contracts
import FHIR
import Foundation
import LedgerCore
import Node
import Services
import Storage

/// `careledger supply`: the drug supply chain contract (products, serialized units, cases,
/// custody, recalls, quarantine, verification and trace).
struct SupplyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "supply",
        abstract: "Drug supply chain (DSCSA-style): products, serialized units, cases, ship/receive custody, recalls, verification, trace.",
        discussion: """
            A unit is GTIN:SERIAL (or the GS1 element string (01)GTIN(21)SERIAL); a bare SERIAL takes --gtin. \
            GTIN-8/12/13 are padded to GTIN-14; check digits are checked. Lists may be comma-separated or the \
            option repeated. Organizations (--to, --from) are local key names or 64-hex ids. Expiry dates are \
            YYYY-MM-DD: the unit is usable through that day (UTC). Refused transactions exit 3.
            """,
        subcommands: [Product.self, Commission.self, Pack.self, Unpack.self, Ship.self, Receive.self, Recall.self,
                      Quarantine.self, Clear.self, Decommission.self, Verify.self, Trace.self])

    /// Units named on the command line, with the GTIN for bare serials.
    struct UnitOptions: ParsableArguments {
        @Option(name: .customLong("units"), help: "Units: GTIN:SERIAL, (01)GTIN(21)SERIAL, or SERIAL with --gtin (comma-separated or repeated).")
        var units: [String] = []
        @Option(help: "GTIN of the bare serials in --units.") var gtin: String?

        /// The parsed, distinct units.
        func parsed() throws -> [SGTIN] {
            try SupplyCLI.units(units, gtin: try gtin.map { try SupplyCLI.gtin($0, "--gtin") })
        }
    }

    /// What `quarantine`, `clear` and `decommission` share: who signs, and the units.
    struct UnitActionOptions: ParsableArguments {
        @OptionGroup var options: DataOption
        @Option(name: .customLong("as"), help: "The key of the units' owner, manufacturer or a regulator (as the command allows), or its supply-chain staff's.")
        var signer: String
        @OptionGroup var units: UnitOptions

        /// Signs the call `call` makes for the named units; returns "N unit(s)" and the block height.
        func run<Call: ContractMethod>(_ call: ([SGTIN]) -> Call) async throws -> (units: String, height: UInt64) {
            let (directory, keys) = try options.directoryAndKey(signer)
            let list = try units.parsed()
            guard !list.isEmpty else { throw CLIError("name the units with --units") }
            let action = call(list)
            let receipt = try await withLedger(directory) { ledger in
                try await ledger.commit(ledger.sign(keys, action))
            }
            return ("\(list.count) unit\(list.count == 1 ? "" : "s")", receipt.status.height)
        }
    }

    /// What `ship` and `receive` share: who signs, and the units and cases that move.
    struct TransferOptions: ParsableArguments {
        @OptionGroup var options: DataOption
        @Option(name: .customLong("as"), help: "Your organization's key, or its supply-chain staff's (a pharmacist at a pharmacy).")
        var signer: String
        @OptionGroup var units: UnitOptions
        @Option(help: "Cases (SSCC-18), comma-separated or repeated.") var cases: [String] = []

        /// Ships (`call` makes the ship to the recipient `party`) or receives (from the shipper
        /// `party`) the units and cases, each list left out when empty; returns what moved in words,
        /// the other party's name and the block height.
        func run<Call: ContractMethod>(verb: String, party: String, _ call: (IdentityID, [SGTIN]?, [String]?) -> Call) async throws
            -> (summary: String, party: String, height: UInt64) {
            let (directory, keys) = try options.directoryAndKey(signer)
            let other = try directory.identityID(party)
            let list = try units.parsed()
            let ssccs = try SupplyCLI.ssccs(cases)
            guard !list.isEmpty || !ssccs.isEmpty else { throw CLIError("name what to \(verb) with --units and/or --cases") }
            let transfer = call(other, list.isEmpty ? nil : list, ssccs.isEmpty ? nil : ssccs)
            return try await withLedger(directory) { ledger in
                let receipt = try await ledger.commit(ledger.sign(keys, transfer))
                let inCases = ssccs.reduce(0) { $0 + (SupplyChainContract.case($1, in: ledger.node.state)?.units.count ?? 0) }
                return (SupplyCLI.itemSummary(list.count, ssccs.count, inCases), SupplyNames(ledger.node.state).name(other), receipt.status.height)
            }
        }
    }

    /// `supply product`: registers a GTIN.
    struct Product: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Register a product (GTIN) as its manufacturer.")
        @OptionGroup var options: DataOption
        @Option(name: .customLong("as"), help: "A manufacturer's key, or its supply-chain staff's.") var signer: String
        @Option(help: "GTIN-14 (or GTIN-8/12/13) with a valid check digit.") var gtin: String
        @Option(help: "Trade name, at most 64 bytes (never PHI).") var label: String

        func run() async throws {
            let (directory, keys) = try options.directoryAndKey(signer)
            let gtin = try SupplyCLI.gtin(gtin, "--gtin")
            let receipt = try await withLedger(directory) { ledger in
                try await ledger.commit(ledger.sign(keys, SupplyChainContract.RegisterProduct(gtin: gtin, label: label)))
            }
            Terminal.line("product \(gtin) “\(label)” registered at block \(receipt.status.height)")
        }
    }

    /// `supply commission`: commissions serialized units in a lot.
    struct Commission: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Commission serialized units of a product in a lot (all or none, at most 200 per command).",
            discussion: "--count N --prefix P [--start S] makes serials P0001…: the number is zero-padded to at least 4 digits.")
        @OptionGroup var options: DataOption
        @Option(name: .customLong("as"), help: "The product's manufacturer's key, or its supply-chain staff's.") var signer: String
        @Option(help: "The product's GTIN.") var gtin: String
        @Option(help: "Lot number (1–20 letters, digits, -._).") var lot: String
        @Option(help: "Expiry (YYYY-MM-DD): usable through that day, UTC. Every unit of a lot has the same expiry.") var expiry: String
        @Option(help: "Serial numbers (comma-separated or repeated).") var serials: [String] = []
        @Option(help: "Number of serials to generate.") var count: Int?
        @Option(help: "Prefix of generated serials.") var prefix = ""
        @Option(help: "First number of generated serials.") var start = 1
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let (directory, keys) = try options.directoryAndKey(signer)
            let gtin = try SupplyCLI.gtin(gtin, "--gtin")
            let lot = try SupplyCLI.lot(lot)
            let expiryMs = try SupplyCLI.expiryMs(expiry, "--expiry")
            let list = try serialList()
            let receipt = try await withLedger(directory) { ledger in
                try await ledger.commit(ledger.sign(keys, SupplyChainContract.Commission(gtin: gtin, lot: lot, expiryMs: expiryMs, serials: list)))
            }
            if json {
                Terminal.json(["gtin": gtin, "lot": lot, "expiry": SupplyCLI.expiryDay(expiryMs), "serials": list,
                               "height": receipt.status.height, "transaction": receipt.status.transactionID.hex])
            } else {
                Terminal.line("commissioned \(list.count) unit\(list.count == 1 ? "" : "s") of \(gtin) in lot \(lot) (usable through \(SupplyCLI.expiryDay(expiryMs))): \(SupplyCLI.summary(list)) (block \(receipt.status.height))")
            }
        }

        /// The serials from --serials, or generated from --count/--prefix/--start.
        func serialList() throws -> [String] {
            let max = SupplyChainContract.serialsPerCommissionMax
            var list: [String]
            switch (serials.isEmpty, count) {
            case (false, nil):
                list = serials.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            case (true, let count?):
                guard (1...max).contains(count) else { throw CLIError("--count must be 1…\(max)") }
                guard start >= 0, start <= Int.max - count else { throw CLIError("--start must be 0 or more") }
                let width = Swift.max(4, String(start + count - 1).count)
                list = (start..<(start + count)).map { number in
                    let digits = String(number)
                    return prefix + String(repeating: "0", count: width - digits.count) + digits
                }
            default: throw CLIError("give either --serials or --count (with --prefix)")
            }
            guard (1...max).contains(list.count) else { throw CLIError("commission 1…\(max) serials per command; got \(list.count)") }
            guard Set(list).count == list.count else { throw CLIError("--serials lists a serial twice") }
            for serial in list { try SupplyCLI.checkSerial(serial) }
            return list
        }
    }

    /// `supply pack`: packs loose units into a case (supply.aggregate).
    struct Pack: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Pack loose active units you own into a new case (SSCC).")
        @OptionGroup var options: DataOption
        @Option(name: .customLong("as"), help: "The owner's key, or its supply-chain staff's (pharmacist at a pharmacy).") var signer: String
        @Option(help: "The case's SSCC-18.") var sscc: String
        @OptionGroup var units: UnitOptions

        func run() async throws {
            let (directory, keys) = try options.directoryAndKey(signer)
            let sscc = try SupplyCLI.sscc(sscc)
            let list = try units.parsed()
            guard !list.isEmpty else { throw CLIError("name the units to pack with --units") }
            let receipt = try await withLedger(directory) { ledger in
                try await ledger.commit(ledger.sign(keys, SupplyChainContract.Aggregate(sscc: sscc, units: list)))
            }
            Terminal.line("packed \(list.count) unit\(list.count == 1 ? "" : "s") into case \(sscc) (block \(receipt.status.height))")
        }
    }

    /// `supply unpack`: unpacks a case (supply.disaggregate).
    struct Unpack: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Unpack a case you hold; its units become loose and the SSCC is spent.")
        @OptionGroup var options: DataOption
        @Option(name: .customLong("as"), help: "The case owner's key, or its supply-chain staff's.") var signer: String
        @Option(help: "The case's SSCC-18.") var sscc: String

        func run() async throws {
            let (directory, keys) = try options.directoryAndKey(signer)
            let sscc = try SupplyCLI.sscc(sscc)
            let (receipt, count) = try await withLedger(directory) { ledger in
                let count = SupplyChainContract.case(sscc, in: ledger.node.state)?.units.count ?? 0
                return (try await ledger.commit(ledger.sign(keys, SupplyChainContract.Disaggregate(sscc: sscc))), count)
            }
            Terminal.line("unpacked case \(sscc): \(count) loose unit\(count == 1 ? "" : "s") (block \(receipt.status.height))")
        }
    }

    /// `supply ship`: ships units and cases to another organization.
    struct Ship: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Ship units and/or cases you own to another organization; ownership moves when it receives them.")
        @OptionGroup var transfer: TransferOptions
        @Option(help: "The recipient organization (manufacturer, distributor, pharmacy or hospital): key name or id.") var to: String

        func run() async throws {
            let moved = try await transfer.run(verb: "ship", party: to) { SupplyChainContract.Ship(to: $0, units: $1, cases: $2) }
            Terminal.line("shipped \(moved.summary) to \(moved.party); pending its receipt (block \(moved.height))")
        }
    }

    /// `supply receive`: receives units and cases shipped to the signer's organization.
    struct Receive: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Receive units and/or cases shipped to your organization, naming the shipper; ownership moves to you.")
        @OptionGroup var transfer: TransferOptions
        @Option(help: "The shipper organization: key name or id.") var from: String

        func run() async throws {
            let moved = try await transfer.run(verb: "receive", party: from) { SupplyChainContract.Receive(from: $0, units: $1, cases: $2) }
            Terminal.line("received \(moved.summary) from \(moved.party) (block \(moved.height))")
        }
    }

    /// `supply recall`: recalls a lot.
    struct Recall: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Recall a lot (as the product's manufacturer or a regulator); every unit of it is recalled at once.")
        @OptionGroup var options: DataOption
        @Option(name: .customLong("as"), help: "The manufacturer's or a regulator's key, or its supply-chain staff's.") var signer: String
        @Option(help: "The product's GTIN.") var gtin: String
        @Option(help: "Lot number.") var lot: String
        @Option(help: "Why.") var reason: RecallReason

        func run() async throws {
            let (directory, keys) = try options.directoryAndKey(signer)
            let gtin = try SupplyCLI.gtin(gtin, "--gtin")
            let lot = try SupplyCLI.lot(lot)
            let (receipt, count) = try await withLedger(directory) { ledger in
                let receipt = try await ledger.commit(ledger.sign(keys, SupplyChainContract.Recall(gtin: gtin, lot: lot, reason: reason)))
                return (receipt, SupplyChainContract.lot(gtin, lot, in: ledger.node.state)?.unitCount ?? 0)
            }
            Terminal.line("lot \(lot) of \(gtin) recalled (\(reason.rawValue)): none of the \(count) unit\(count == 1 ? "" : "s") commissioned in it can be packed, shipped or dispensed any more (block \(receipt.status.height))")
        }
    }

    /// `supply quarantine`: marks units suspect.
    struct Quarantine: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Quarantine units as suspect product (as their owner or a regulator).")
        @OptionGroup var action: UnitActionOptions
        @Option(help: "Why.") var reason: QuarantineReason

        func run() async throws {
            let done = try await action.run { SupplyChainContract.Quarantine(units: $0, reason: reason) }
            Terminal.line("quarantined \(done.units) as suspect (\(reason.rawValue)) (block \(done.height))")
        }
    }

    /// `supply clear`: clears suspect units.
    struct Clear: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Clear suspect units after investigation (as their manufacturer or a regulator): back to active, or in transit.")
        @OptionGroup var action: UnitActionOptions

        func run() async throws {
            let done = try await action.run { SupplyChainContract.Clear(units: $0) }
            Terminal.line("cleared \(done.units) (block \(done.height))")
        }
    }

    /// `supply decommission`: takes units out of the chain.
    struct Decommission: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Take loose units you own out of the supply chain for good.")
        @OptionGroup var action: UnitActionOptions
        @Option(help: "Why.") var reason: DecommissionReason

        func run() async throws {
            let done = try await action.run { SupplyChainContract.Decommission(units: $0, reason: reason) }
            Terminal.line("decommissioned \(done.units) (\(reason.rawValue)) (block \(done.height))")
        }
    }

    /// `supply verify`: a recorded verification; prints GENUINE or the incident (exit 3).
    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify a pack (DSCSA verification request): the request and its verdict are recorded on-chain.",
            discussion: """
                Prints GENUINE (exit 0) when the serial was commissioned, matches the lot and expiry printed on \
                the pack (when given), and is active or in transit, not recalled, suspect or expired. Anything \
                else is an INCIDENT (exit 3), recorded on-chain; an active or in-transit unit is then marked \
                suspect (except for plain expiry) so it cannot be shipped or dispensed until cleared.
                """)
        @OptionGroup var options: DataOption
        @Argument(help: "The unit: GTIN:SERIAL or (01)GTIN(21)SERIAL.") var unit: String
        @Option(name: .customLong("as"), help: "A supply-chain party's key (or its supply-chain staff's, or a pharmacist's).") var signer: String
        @Option(help: "The lot printed on the pack.") var lot: String?
        @Option(help: "The expiry printed on the pack (YYYY-MM-DD).") var expiry: String?
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let (directory, keys) = try options.directoryAndKey(signer)
            let sgtin = try SupplyCLI.sgtin(unit, gtin: nil)
            var verify = SupplyChainContract.Verify(gtin: sgtin.gtin, serial: sgtin.serial)
            if let lot { verify.lot = try SupplyCLI.lot(lot) }
            if let expiry { verify.expiryMs = try SupplyCLI.expiryMs(expiry, "--expiry") }
            let (incident, lines, object) = try await withLedger(directory) { ledger -> (Bool, [String], [String: Any]) in
                let receipt = try await ledger.commit(ledger.sign(keys, verify))
                guard let record = SupplyChainContract.verification(receipt.status.transactionID, in: ledger.node.state) else {
                    throw CLIError("verification \(receipt.status.transactionID.hex) was not recorded")
                }
                let known = SupplyChainContract.unit(sgtin.gtin, sgtin.serial, atMs: record.timeMs, in: ledger.node.state)
                let names = SupplyNames(ledger.node.state)
                return (record.isIncident, SupplyCLI.verdictLines(record, unit: known, names: names),
                        LedgerView(state: ledger.node.state, headTimeMs: record.timeMs).verification(record))
            }
            if json { Terminal.json(object) } else {
                for line in lines { Terminal.line(line) }
            }
            if incident { throw exitRejected }
        }
    }

    /// `supply trace`: read-only status and chain of custody of a serial (exit 3 unless in good standing).
    struct Trace: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Everything the ledger knows about a serial: status, owner, lot, expiry, chain of custody, incidents.",
            discussion: """
                Read-only; anyone with the data directory may run it, also while a node runs. Status is as of now \
                (recall and expiry applied). Exits 0 when the unit is in good standing (known, active or in \
                transit) and 3 otherwise: unknown, recalled, suspect, expired, dispensed or decommissioned.
                """)
        @OptionGroup var options: DataOption
        @Argument(help: "The unit: GTIN:SERIAL or (01)GTIN(21)SERIAL.") var unit: String
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let directory = options.directory
            let sgtin = try SupplyCLI.sgtin(unit, gtin: nil)
            let view = try LedgerView.of(try directory.openStore())
            let verification = try view.serialVerification(gtin: sgtin.gtin, serial: sgtin.serial)
            if json { Terminal.json(try view.serial(gtin: sgtin.gtin, serial: sgtin.serial)) } else {
                let incidents = SupplyChainContract.incidents(gtin: sgtin.gtin, serial: sgtin.serial, in: view.state)
                for line in SupplyCLI.traceLines(verification, incidents: incidents, names: SupplyNames(view.state), reader: view.state) { Terminal.line(line) }
            }
            if !verification.isInGoodStanding { throw exitRejected }
        }
    }
}

/// `careledger rx`: prescriptions issued by clinicians and dispensed by pharmacies against
/// serialized units of the supply chain.
struct RxCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rx",
        abstract: "Prescriptions: a clinician issues, pharmacies fill with serialized units (marked dispensed), the prescriber cancels.",
        discussion: """
            The FHIR MedicationRequest stays off-chain: only its SHA-256 goes on-chain, with the patient's \
            pseudonym, the product (GTIN), units per fill, refills and expiry. Every fill at any pharmacy counts \
            against the same prescription. Refused transactions exit 3.
            """,
        subcommands: [Issue.self, Fill.self, Cancel.self, Show.self])

    /// `rx issue`: issues a prescription from a MedicationRequest file (hashed locally).
    struct Issue: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Issue a prescription (as a clinician of a hospital or clinic) from a FHIR MedicationRequest file.",
            discussion: """
                The file is read and checked locally (a MedicationRequest JSON object) and hashed: the SHA-256 of \
                its bytes goes on-chain (compare with `sha256sum FILE`), never its content. --quantity and \
                --refills default to dispenseRequest.quantity.value and dispenseRequest.numberOfRepeatsAllowed; \
                when both are given they must agree.
                """)
        @OptionGroup var options: DataOption
        @Option(name: .customLong("as"), help: "The prescriber: a clinician's key.") var signer: String
        @Option(help: "The patient: key name or id (pseudonym).") var patient: String
        @Option(help: "The prescribed product's GTIN (registered).") var gtin: String
        @Option(help: "Units dispensed per fill (1…\(PrescriptionContract.quantityMax)).") var quantity: Int?
        @Option(help: "Refills after the first fill (0…\(PrescriptionContract.refillsMax)).") var refills: Int?
        @Option(help: "Valid for this many days from now (1…365).") var days = 365
        @Option(help: "The FHIR R4 MedicationRequest JSON file, or - for standard input.") var file: String
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let (directory, keys) = try options.directoryAndKey(signer)
            let patientID = try directory.identityID(patient)
            let gtin = try SupplyCLI.gtin(gtin, "--gtin")
            guard (1...365).contains(days) else { throw CLIError("--days must be 1…365") }
            let content = try readInput(file, max: FHIRJSON.resourceBytesMax)
            let request = try MedicationRequestFile(content, name: file)
            let quantity = try request.resolve(self.quantity, request.quantity, "--quantity", "dispenseRequest.quantity.value")
            let refills = try request.resolve(self.refills, request.refills, "--refills", "dispenseRequest.numberOfRepeatsAllowed") ?? 0
            guard let quantity else { throw CLIError("give --quantity (the MedicationRequest has no dispenseRequest.quantity)") }
            guard (1...Int(PrescriptionContract.quantityMax)).contains(quantity) else { throw CLIError("--quantity must be 1…\(PrescriptionContract.quantityMax)") }
            guard (0...Int(PrescriptionContract.refillsMax)).contains(refills) else { throw CLIError("--refills must be 0…\(PrescriptionContract.refillsMax)") }
            let (receipt, view, expiresMs) = try await withLedger(directory) { ledger in
                // Expiry counts from the ledger's time (the head block's), like every rule of the contract.
                let expiresMs = await ledger.node.nextBlockTimeMs + Int64(days) * 86_400_000
                let (receipt, view) = try await ledger.client.issuePrescription(PrescriptionContract.Issue(
                    medicationRequestHash: request.hash, patient: patientID, gtin: gtin, quantity: Int64(quantity), refills: Int64(refills),
                    expiresMs: expiresMs), as: keys)
                return (receipt, view, expiresMs)
            }
            let id = receipt.status.transactionID
            if json {
                Terminal.json(["prescription": id.hex, "height": receipt.status.height, "medicationRequestHash": request.hash.hex,
                               "expires": FHIRDateTime.instant(ms: expiresMs), "fillsAllowed": 1 + refills])
            } else {
                Terminal.line("prescription \(id.hex) issued (block \(receipt.status.height))")
                Terminal.line("  \(gtin): \(quantity) unit\(quantity == 1 ? "" : "s") per fill, \(refills) refill\(refills == 1 ? "" : "s") (\(1 + refills) fills), expires \(SupplyCLI.time(view?.prescription.expiresMs ?? expiresMs))")
                Terminal.line("  MedicationRequest SHA-256 \(request.hash.hex) (the request itself stays off-chain)")
            }
        }
    }

    /// `rx fill`: dispenses one fill with serialized units.
    struct Fill: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Dispense one fill (as a pharmacist or pharmacy): exactly the prescribed number of units your pharmacy owns.")
        @OptionGroup var options: DataOption
        @Argument(help: "Prescription id (64 hex).") var prescription: String
        @Option(name: .customLong("as"), help: "A pharmacist's key (pharmacy or hospital), or the pharmacy's.") var signer: String
        @Option(help: "Units: GTIN:SERIAL, (01)GTIN(21)SERIAL, or SERIAL of the prescribed GTIN (comma-separated or repeated).")
        var units: [String] = []
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let (directory, keys) = try options.directoryAndKey(signer)
            let id = try hexID(prescription, "prescription id")
            guard !units.isEmpty else { throw CLIError("name the units dispensed with --units") }
            let (view, pharmacy) = try await withLedger(directory) { ledger -> (PrescriptionView, String) in
                guard let before = PrescriptionContract.prescription(id, in: ledger.node.state) else {
                    throw Refused(code: ResultCode.unknownPrescription.name, message: "no prescription \(id.hex)")
                }
                let list = try SupplyCLI.units(units, gtin: before.prescription.gtin)
                try await ledger.commit(ledger.sign(keys, PrescriptionContract.Fill(prescription: id, units: list)))
                guard let after = PrescriptionContract.prescription(id, in: ledger.node.state), let fill = after.fills.last else {
                    throw CLIError("the fill of \(id.hex) was not recorded")
                }
                return (after, SupplyNames(ledger.node.state).name(fill.pharmacy))
            }
            let fill = view.fills[view.fills.count - 1]
            if json {
                Terminal.json(["prescription": id.hex, "fill": fill.number, "fillsAllowed": view.prescription.fillsAllowed,
                               "fillsRemaining": view.fillsRemaining, "status": view.status.rawValue, "height": fill.height,
                               "units": fill.units.map(SupplyCLI.text)])
            } else {
                Terminal.line("fill \(fill.number) of \(view.prescription.fillsAllowed) of prescription \(id.hex) at \(pharmacy): dispensed \(fill.units.map(\.serial).joined(separator: ", ")) (block \(fill.height))")
                Terminal.line(view.fillsRemaining == 0 ? "  prescription completed: no fills left"
                                  : "  \(view.fillsRemaining) fill\(view.fillsRemaining == 1 ? "" : "s") left")
            }
        }
    }

    /// `rx cancel`: cancels a prescription.
    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Cancel a prescription (as its prescriber, their organization or its admin).")
        @OptionGroup var options: DataOption
        @Argument(help: "Prescription id (64 hex).") var prescription: String
        @Option(name: .customLong("as"), help: "The prescriber's key, their organization's, or its admin's.") var signer: String

        func run() async throws {
            let (directory, keys) = try options.directoryAndKey(signer)
            let id = try hexID(prescription, "prescription id")
            let (receipt, view) = try await withLedger(directory) { ledger in
                let receipt = try await ledger.commit(ledger.sign(keys, PrescriptionContract.Cancel(prescription: id)))
                return (receipt, PrescriptionContract.prescription(id, in: ledger.node.state))
            }
            Terminal.line("prescription \(id.hex) cancelled after \(view?.fillsUsed ?? 0) fill\(view?.fillsUsed == 1 ? "" : "s") (block \(receipt.status.height))")
        }
    }

    /// `rx show`: a prescription and its fills (read-only).
    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a prescription: status, fills used and left, each fill's pharmacy and units.")
        @OptionGroup var options: DataOption
        @Argument(help: "Prescription id (64 hex).") var prescription: String
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let directory = options.directory
            let id = try hexID(prescription, "prescription id")
            let ledgerView = try LedgerView.of(try directory.openStore())
            guard let view = PrescriptionContract.prescription(id, in: ledgerView.state) else { throw CLIError("no prescription \(id.hex)") }
            if json { Terminal.json(try await ledgerView.prescription(id, as: nil)) } else {
                let lines = SupplyCLI.prescriptionLines(view, names: SupplyNames(ledgerView.state), reader: ledgerView.state, atMs: ledgerView.headTimeMs)
                for line in lines { Terminal.line(line) }
            }
        }
    }
}
