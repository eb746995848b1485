import Console
import ArgumentParser
import Contracts
import Demo
import Foundation
import LedgerCore
import Node
import Services

/// `careledger bench contracts`: healthcare contracts through the real node — claims adjudicated
/// per second, committed durably, next to this machine's Ed25519 verification limit.
struct ContractBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "contracts",
        abstract: "Adjudicated claims/s and supply-chain events/s (ship, receive, verify of serialized units) through the node and SQLite, against the Ed25519 verify limit measured in the same run.")

    @Option(help: "Claims submitted (one line each, each documented by its own record).") var claims = 20_000
    @Option(help: "Patients (each enrolled in the plan).") var patients = 1_000
    @Option(help: "Submitting devices of the hospital (distinct senders).") var senders = 200
    @Option(help: "Serialized units, each shipped, received and verified (3 events per unit).") var units = 10_000
    @Flag(help: "Print JSON.") var json = false

    func validate() throws {
        guard (1_000...1_000_000).contains(claims) else { throw ValidationError("--claims must be 1000…1000000") }
        guard (10...100_000).contains(patients), claims / patients <= 300 else {
            throw ValidationError("--patients must be 10…100000 and at least claims/300 (one claim per patient and day, within the filing limit)")
        }
        guard (1...10_000).contains(senders) else { throw ValidationError("--senders must be 1…10000") }
        guard (200...1_000_000).contains(units) else { throw ValidationError("--units must be 200…1000000") }
    }

    func run() async throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("careledger-bench-contracts-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        if !json { Terminal.line("measuring machine limits…") }
        let limits = MachineLimits.measure()
        if !json { Terminal.line("  \(limits.cores) cores: Ed25519 \(grouped(Int(limits.ed25519VerifyPerSecond))) verifications/s (all cores)") }
        let directory = DataDirectory(url: root)
        try directory.initialize(chainId: "careledger-bench", organizations: [
            OrganizationSpec(name: "bench-hospital", type: .hospital), OrganizationSpec(name: "bench-payer", type: .payer),
            OrganizationSpec(name: "bench-maker", type: .manufacturer), OrganizationSpec(name: "bench-distributor", type: .distributor)],
            insecurePlainKeys: true)
        let ledger = try await LocalLedger.open(directory)
        let claimsResult: LedgerBench.Throughput
        let outcomes: [String: Int]
        let supply: [LedgerBench.Throughput]
        do {
            let signed = try await prepareClaims(ledger, directory)
            if !json { Terminal.line("submitting \(grouped(claims)) claims…") }
            claimsResult = try await LedgerBench.commitAll(signed, through: ledger, progress: !json)
            var counts: [String: Int] = [:]
            for tx in signed {
                guard let id = (try? ClaimsContract.Submit(args: tx.body.args))?.claim,
                      let entry = ClaimsContract.claim(id, in: ledger.node.state) else { throw CLIError("a bench claim was not stored") }
                counts[entry.outcome.rawValue, default: 0] += 1
            }
            outcomes = counts
            supply = try await runSupply(ledger, directory)
        } catch {
            await ledger.close()
            throw error
        }
        await ledger.close()
        guard outcomes["paid"] == claims else { throw CLIError("expected every bench claim paid, got \(outcomes)") }
        let ratio = claimsResult.txPerSecond / limits.ed25519VerifyPerSecond
        let supplyEvents = units * supply.count
        let supplySeconds = supply.reduce(0) { $0 + $1.seconds }
        let eventsPerSecond = Double(supplyEvents) / supplySeconds
        let supplyRatio = eventsPerSecond / limits.ed25519VerifyPerSecond
        if json {
            Terminal.json([
                "claims": claims, "patients": patients, "senders": senders, "cores": limits.cores,
                "claimsPerSecond": claimsResult.txPerSecond, "commitLatencyMs": ["p50": claimsResult.p50Ms, "p99": claimsResult.p99Ms],
                "outcomes": outcomes, "limits": ["ed25519VerifyPerSecond": limits.ed25519VerifyPerSecond],
                "units": units, "supplyEventsPerSecond": eventsPerSecond,
                "supplyPhases": zip(["ship", "receive", "verify"], supply).map { ["event": $0.0, "perSecond": $0.1.txPerSecond, "p99Ms": $0.1.p99Ms] },
                "ratios": ["claimsPerSecondToEd25519Verify": ratio, "supplyEventsPerSecondToEd25519Verify": supplyRatio],
            ])
        } else {
            Terminal.line("")
            Terminal.line("claims         \(grouped(claims)) adjudicated and committed (all paid: deductible, coinsurance, accumulators updated) in \(claimsResult.blocks) blocks, \(fixed(claimsResult.seconds, 2)) s")
            Terminal.line("throughput     \(grouped(Int(claimsResult.txPerSecond))) claims/s  (\(fixed(ratio * 100))% of the Ed25519 verify limit \(grouped(Int(limits.ed25519VerifyPerSecond)))/s)")
            Terminal.line("commit latency p50 \(fixed(claimsResult.p50Ms)) ms, p99 \(fixed(claimsResult.p99Ms)) ms (submit → durable commit acknowledged)")
            Terminal.line("supply chain   \(grouped(supplyEvents)) events on \(grouped(units)) serialized units in \(fixed(supplySeconds, 2)) s: \(grouped(Int(eventsPerSecond))) events/s  (\(fixed(supplyRatio * 100))% of the verify limit)")
            for (name, phase) in zip(["ship", "receive", "verify"], supply) {
                Terminal.line("  \(pad(name, 8)) \(grouped(Int(phase.txPerSecond))) /s, commit p50 \(fixed(phase.p50Ms)) ms, p99 \(fixed(phase.p99Ms)) ms")
            }
        }
    }

    /// A manufacturer's devices ship each unit to a distributor, whose devices receive it and
    /// then verify it (one transaction per unit and event); returns the three phases.
    private func runSupply(_ ledger: LocalLedger, _ directory: DataDirectory) async throws -> [LedgerBench.Throughput] {
        let maker = try directory.loadKey("bench-maker"), distributor = try directory.loadKey("bench-distributor")
        let chainId = ledger.settings.chainId
        if !json { Terminal.line("setting up: a product and \(grouped(units)) commissioned units…") }
        let makerDevices = try await LedgerBench.enrollDevices(ledger, count: max(1, senders / 2), admin: maker, role: .supplyChain, name: "bench-maker")
        let distributorDevices = try await LedgerBench.enrollDevices(ledger, count: max(1, senders / 2), admin: distributor, role: .supplyChain,
                                                                     name: "bench-distributor")
        let gtin = (0...9).map { "0061414199999\($0)" }.first(where: gs1CheckDigitValid)!
        try await LedgerBench.commitSetup(ledger, [ledger.sign(maker, SupplyChainContract.RegisterProduct(gtin: gtin, label: "bench tablets 10 mg"))])
        let expiry = SystemClock().nowMs() + 400 * 86_400_000
        let serial: @Sendable (Int) -> String = { "B\($0)" }
        try await LedgerBench.commitSetup(ledger, stride(from: 0, to: units, by: 200).map { start in
            ledger.sign(maker, SupplyChainContract.Commission(
                gtin: gtin, lot: "LOT-BENCH", expiryMs: expiry, serials: (start..<min(units, start + 200)).map { serial($0) }))
        })
        func phase<Call: ContractMethod>(_ devices: [IdentityKeys], _ call: @escaping @Sendable (Int) -> Call) -> [Transaction] {
            let count = devices.count
            let bases = devices.map { BlockExecutor.lastSequence(of: $0.derivedID, in: ledger.node.state) }
            return LedgerBench.signAll(units) { i in
                let device = devices[i % count]
                return (device, TransactionBody(chainId: chainId, sender: device.derivedID, publicKey: device.signingPublicKey,
                                                sequence: bases[i % count] + UInt64(i / count) + 1, call: call(i)))
            }
        }
        let unit: @Sendable (Int) -> SGTIN = { SGTIN(gtin: gtin, serial: serial($0)) }
        let makerID = maker.derivedID, distributorID = distributor.derivedID
        var phases: [LedgerBench.Throughput] = []
        if !json { Terminal.line("shipping, receiving and verifying each unit…") }
        phases.append(try await LedgerBench.commitAll(phase(makerDevices, { SupplyChainContract.Ship(to: distributorID, units: [unit($0)]) }),
                                                      through: ledger, progress: !json))
        phases.append(try await LedgerBench.commitAll(phase(distributorDevices, { SupplyChainContract.Receive(from: makerID, units: [unit($0)]) }),
                                                      through: ledger, progress: !json))
        phases.append(try await LedgerBench.commitAll(phase(distributorDevices, { i in
            SupplyChainContract.Verify(gtin: gtin, serial: serial(i), lot: "LOT-BENCH") }), through: ledger, progress: !json))
        let probe = SupplyChainContract.unit(gtin, serial(units - 1), atMs: SystemClock().nowMs(), in: ledger.node.state)
        guard probe.owner == distributorID, probe.isInGoodStanding, probe.incidentCount == 0 else {
            throw CLIError("bench units did not end with the distributor in good standing")
        }
        return phases
    }

    /// Setup (devices, patients, plan, coverage, documenting records), then the signed claims.
    private func prepareClaims(_ ledger: LocalLedger, _ directory: DataDirectory) async throws -> [Transaction] {
        let hospital = try directory.loadKey("bench-hospital"), payer = try directory.loadKey("bench-payer")
        let chainId = ledger.settings.chainId
        let day: Int64 = 86_400_000
        let now = SystemClock().nowMs()
        if !json { Terminal.line("setting up: \(grouped(senders)) devices, \(grouped(patients)) patients, a plan, coverage, \(grouped(claims)) records…") }
        let devices = try await LedgerBench.enrollDevices(ledger, count: senders, admin: hospital)
        let patientKeys = (0..<patients).map { IdentityKeys(seed: Hash256.sha256(Array("bench-patient-\($0)".utf8)).bytes) }
        try await LedgerBench.commitSetup(ledger, LedgerBench.signAll(patients) { i in
            (patientKeys[i], TransactionBody(chainId: chainId, sender: patientKeys[i].derivedID, publicKey: patientKeys[i].signingPublicKey,
                                             sequence: 1, call: MembershipContract.RegisterPatient(agreementKey: patientKeys[i].agreementPublicKey)))
        })
        let plan = try PlanFile.registerPlan(Data("""
            {"plan":"BENCH","currency":"USD","deductible":100.00,"coinsurancePercent":20,"outOfPocketMax":1000000.00,
             "benefits":[{"code":"99213","allowed":150.00}]}
            """.utf8))
        try await LedgerBench.commitSetup(ledger, [ledger.sign(payer, plan)])
        let enrollments = patientKeys.map { CoverageEnrollment(plan: "BENCH", patient: $0.derivedID, startMs: now - 400 * day, endMs: now + 300 * day) }
        try await LedgerBench.commitSetup(ledger, enrollments.map { ledger.sign(payer, $0.call) })
        let memberIDs = enrollments.map(\.memberID)
        let record: @Sendable (Int) -> Hash256 = { i in Hash256.sha256(Array("bench-record-\(i)".utf8)) }
        let patientIDs = patientKeys.map(\.derivedID)
        var registrations: [Transaction] = []
        for start in stride(from: 0, to: claims, by: RecordsContract.registrationsPerTransactionMax) {
            let entries = (start..<min(claims, start + RecordsContract.registrationsPerTransactionMax)).map { i in
                RecordsContract.Register(record: record(i), patient: patientIDs[i % patients], resourceType: "Encounter", category: .general,
                                         ciphertextHash: Hash256.sha256(record(i).bytes), version: 1)
            }
            registrations.append(ledger.sign(hospital, RecordsContract.RegisterMany(entries: entries)))
        }
        try await LedgerBench.commitSetup(ledger, registrations)

        // One claim per patient and day of service: no duplicates, every one documented and paid.
        let firstDay = now - 350 * day
        let senderCount = senders
        let patientCount = patients
        return LedgerBench.signAll(claims) { i in
            let device = devices[i % senderCount]
            let submit = ClaimsContract.Submit(
                claim: Hash256.sha256(Array("bench-claim-\(i)".utf8)), plan: "BENCH", patient: patientIDs[i % patientCount],
                memberID: memberIDs[i % patientCount], claimHash: Hash256.sha256(Array("claim-\(i)".utf8)), diagnoses: ["E11.9"],
                items: [ClaimItem(sequence: 1, code: "99213", quantity: 1, unitPriceMinor: 20_000, serviceMs: firstDay + Int64(i / patientCount) * day,
                                  record: record(i))])
            return (device, TransactionBody(chainId: chainId, sender: device.derivedID, publicKey: device.signingPublicKey,
                                            sequence: UInt64(i / senderCount) + 1, call: submit))
        }
    }
}
