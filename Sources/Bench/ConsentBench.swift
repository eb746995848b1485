import Console
import ArgumentParser
import Contracts
import Demo
import Dispatch
import Foundation
import LedgerCore
import Node
import Services
import Storage

/// `careledger bench consent`: consent-decision latency as the number of consents on the chain grows.
struct ConsentBench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "consent",
        abstract: "Time the consent decision at 10³, 10⁵ and 10⁶ consents, through the node's state reader, cold and warm.",
        discussion: """
        Builds a chain of organizations, staff, patients and records, then grows it to each consent count with \
        signed consent grants executed by the consent contract and stored in SQLite. At each count it opens a \
        node on the chain and times the decision function on a mix of requests (half covered by some consent, \
        half not), first against a cold state cache (reads go to SQLite) and then warm. In the same run it \
        times a single SQLite state read (the limit a cold decision is made of) and reports the ratio. A \
        worst-case requester, covered by 32 non-matching consents on each of its index lists, is timed too.
        """)

    @Option(help: "Consent counts to measure at, ascending, comma-separated (each 100…5,000,000).") var counts = "1000,100000,1000000"
    @Option(help: "Decisions timed at each count, cold and warm (1,000…1,000,000).") var decisions = 20_000
    @Option(help: "Patients the consents are spread over (100…1,000,000); each holds at most 500.") var patients = 10_000
    @Option(help: "Worst-case decisions timed at each count, cold and warm (100…100,000).") var worstDecisions = 2_000
    @Option(help: "Keep the benchmark chain in this directory (default: a temporary one, deleted).") var data: String?
    @Flag(help: "Print JSON.") var json = false

    /// The requested consent counts.
    var levels: [Int] { counts.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) } }

    func validate() throws {
        let levels = self.levels
        guard !levels.isEmpty, levels.count == counts.split(separator: ",").count else {
            throw ValidationError("--counts must be comma-separated integers")
        }
        guard levels.allSatisfy({ (100...5_000_000).contains($0) }), levels == levels.sorted(), Set(levels).count == levels.count else {
            throw ValidationError("--counts must be ascending, distinct, each 100…5000000")
        }
        guard (1_000...1_000_000).contains(decisions) else { throw ValidationError("--decisions must be 1000…1000000") }
        guard (100...1_000_000).contains(patients) else { throw ValidationError("--patients must be 100…1000000") }
        guard (100...100_000).contains(worstDecisions) else { throw ValidationError("--worst-decisions must be 100…100000") }
        guard levels.last! <= patients * 500 else {
            throw ValidationError("--patients \(patients) cannot hold \(levels.last!) consents at ≤ 500 each; raise --patients")
        }
    }

    func run() async throws {
        let root = data.map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.temporaryDirectory.appendingPathComponent("careledger-consent-bench-\(UUID().uuidString)")
        defer { if data == nil { try? FileManager.default.removeItem(at: root) } }
        let directory = DataDirectory(url: root)
        let start = SystemClock().nowMs()
        var world = ConsentBenchWorld(patients: patients, startMs: start)
        try directory.initialize(chainId: "careledger-consent-bench", organizations: ConsentBenchWorld.organizationSpecs, nowMs: start,
                                 insecurePlainKeys: true)
        let organizationKeys = try ConsentBenchWorld.organizationSpecs.map { try directory.loadKey($0.name) }
        let nodeKeys = try directory.loadKey("node")
        if !json { Terminal.line("setting up \(grouped(ConsentBenchWorld.membersPerOrganization * organizationKeys.count)) staff, \(grouped(patients)) patients, \(grouped(patients * 2)) records…") }
        let setupStore = try directory.openStore()
        var writer = try ConsentBenchWriter(store: setupStore, ordererKeys: nodeKeys, startMs: start)
        try writer.commit(world.setupTransactions(organizationKeys: organizationKeys), label: "setup", json: json)
        try writer.commit(world.worstCaseTransactions(), label: "worst case", json: json)

        var results: [LevelResult] = []
        var granted = 0
        for level in levels {
            if !json { Terminal.line("granting consents \(grouped(granted + 1))…\(grouped(level))…") }
            for chunk in stride(from: granted, to: level, by: 100_000) {
                try writer.commit(world.consentTransactions(chunk..<min(chunk + 100_000, level)), label: "granting", json: json)
            }
            granted = level
            results.append(try await measure(level: level, world: world, store: setupStore, nodeKeys: nodeKeys))
            if !json { print(results.last!) }
        }
        if json {
            Terminal.json([
                "patients": patients, "decisionsPerCount": decisions, "targetP99Microseconds": 200,
                "levels": results.map(\.json),
            ])
        } else {
            Terminal.line("")
            Terminal.line("target: p99 < 200 µs at every count. Consents on chain include \(ConsentBenchWorld.worstCaseConsents) held by the worst-case patient.")
        }
    }

    /// Times decisions at the current chain size.
    func measure(level: Int, world: ConsentBenchWorld, store: SQLiteLedgerStore, nodeKeys: IdentityKeys) async throws -> LevelResult {
        let node = try await LedgerNode(store: store, ordererKeys: nodeKeys)
        let height = await node.headHeader.height + 1
        let nowMs = world.decisionTimeMs
        var rng = SplitMix64(seed: UInt64(level))
        let requests = (0..<decisions).map { _ in world.request(consentsGranted: level, &rng) }

        func time(_ requests: [AccessRequest], _ reader: any StateReader) -> (latencies: [Double], outcomes: [String: Int]) {
            var latencies = [Double](repeating: 0, count: requests.count)
            var outcomes: [String: Int] = [:]
            for (index, request) in requests.enumerated() {
                let t0 = DispatchTime.now().uptimeNanoseconds
                let decision = ConsentPolicy.decide(request, in: reader, nowMs: nowMs, height: height)
                latencies[index] = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1_000
                outcomes["\(decision.outcome.rawValue)/\(decision.reason.rawValue)", default: 0] += 1
            }
            return (latencies.sorted(), outcomes)
        }
        let cold = time(requests, node.state)
        let warm = time(requests, node.state)
        let counter = CountingReader(node.state)
        for request in requests { _ = ConsentPolicy.decide(request, in: counter, nowMs: nowMs, height: height) }
        let worstRequests = Array(repeating: world.worstCaseRequest, count: worstDecisions)
        let worstCold = time(worstRequests, StoreStateReader(store: store))
        let worstWarm = time(worstRequests, node.state)
        let worstReads = CountingReader(node.state)
        let worstDecision = ConsentPolicy.decide(world.worstCaseRequest, in: worstReads, nowMs: nowMs, height: height)
        await node.stop()

        // The limit: one SQLite point read of an existing state key, same store, same run.
        var readLatencies: [Double] = []
        let keys = requests.prefix(5_000).map { RecordIndex.currentKey($0.record) }
        for key in keys {
            let t0 = DispatchTime.now().uptimeNanoseconds
            let value = try store.state(key)
            precondition(value != nil, "bench record \(key) missing")
            readLatencies.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1_000)
        }
        readLatencies.sort()
        return LevelResult(
            consents: level + ConsentBenchWorld.worstCaseConsents, cold: Latency(cold.latencies), warm: Latency(warm.latencies),
            outcomes: cold.outcomes, readsPerDecision: Double(counter.reads) / Double(requests.count),
            stateRead: Latency(readLatencies), worstCold: Latency(worstCold.latencies), worstWarm: Latency(worstWarm.latencies),
            worstReads: worstReads.reads, worstReason: worstDecision.reason.rawValue)
    }

    /// p50, p99 and max of a sorted sample, in µs.
    struct Latency {
        let p50: Double, p99: Double, max: Double
        init(_ sorted: [Double]) { p50 = percentile(sorted, 0.5); p99 = percentile(sorted, 0.99); max = sorted.last ?? 0 }
        var json: [String: Double] { ["p50": p50, "p99": p99, "max": max] }
        var text: String { "p50 \(pad(fixed(p50), 6)) µs  p99 \(pad(fixed(p99), 6)) µs  max \(pad(fixed(max), 7)) µs" }
    }

    /// What one consent count measured.
    struct LevelResult: CustomStringConvertible {
        let consents: Int
        let cold: Latency, warm: Latency
        let outcomes: [String: Int]
        let readsPerDecision: Double
        let stateRead: Latency
        let worstCold: Latency, worstWarm: Latency
        let worstReads: Int
        let worstReason: String

        var json: [String: Any] {
            ["consents": consents, "cold": cold.json, "warm": warm.json, "outcomes": outcomes, "stateReadsPerDecision": readsPerDecision,
             "sqliteStateRead": stateRead.json, "coldP50ToStateReadP50": cold.p50 / stateRead.p50,
             "worstCase": ["cold": worstCold.json, "warm": worstWarm.json, "stateReads": worstReads, "reason": worstReason]]
        }

        var description: String {
            let permits = outcomes.filter { !$0.key.hasPrefix("deny") }.values.reduce(0, +)
            let total = outcomes.values.reduce(0, +)
            let top = outcomes.sorted { $0.value > $1.value }.prefix(4).map { "\($0.key) \(grouped($0.value))" }.joined(separator: ", ")
            return """
              \(grouped(consents)) consents
                cold (SQLite)   \(cold.text)  (\(fixed(readsPerDecision)) state reads per decision)
                warm (cached)   \(warm.text)
                limit           one SQLite state read p50 \(fixed(stateRead.p50, 2)) µs; cold decision p50 = \(fixed(cold.p50 / stateRead.p50)) reads' worth
                outcomes        \(grouped(permits)) of \(grouped(total)) permitted; \(top)
                worst case      cold \(worstCold.text)  warm \(worstWarm.text)  (\(worstReads) reads, \(worstReason))
            """
        }
    }
}

/// Counts state reads (untimed pass).
private final class CountingReader: StateReader, @unchecked Sendable {
    let base: any StateReader
    var reads = 0
    init(_ base: any StateReader) { self.base = base }
    func value(for key: String) -> [UInt8]? { reads += 1; return base.value(for: key) }
}


/// Commits signed transactions into the bench chain in blocks of 2,000, checking every result.
struct ConsentBenchWriter {
    var writer: DirectBlockWriter
    var timeMs: Int64

    init(store: any LedgerStore, ordererKeys: IdentityKeys, startMs: Int64) throws {
        writer = try DirectBlockWriter(store: store, ordererKeys: ordererKeys)
        timeMs = startMs
    }

    mutating func commit(_ transactions: [Transaction], label: String, json: Bool) throws {
        var bar = ProgressBar(label, total: UInt64(transactions.count), enabled: Terminal.stderrIsTTY && !json)
        for blockStart in stride(from: 0, to: transactions.count, by: 2_000) {
            let block = transactions[blockStart..<min(blockStart + 2_000, transactions.count)].map { VerifiedTransaction(uncheckedFromTrustedStore: $0) }
            timeMs += 1
            let committed = try writer.commit(block, timeMs: timeMs)
            if let refused = committed.results.first(where: { $0.code != ResultCode.accepted.rawValue }) {
                throw CLIError("bench \(label) transaction refused: \(refused.code) \(refused.message)")
            }
            bar.update(UInt64(blockStart + block.count))
        }
        bar.finish()
    }
}

/// The bench population and the deterministic consents and requests over it.
struct ConsentBenchWorld: Sendable {
    static let membersPerOrganization = 200
    static let resourceTypes = ["Observation", "Condition", "MedicationRequest", "DiagnosticReport", "Procedure", "Immunization"]
    static let roleSets: [[Role]] = [[.clinician], [.nurse], [.clinician, .emergencyClinician], [.researcher], [.payerAgent], [.pharmacist]]
    static let grantRoles: [Role] = [.clinician, .nurse, .emergencyClinician, .researcher, .payerAgent, .pharmacist]
    static let sensitive = SensitivityCategory.allCases.filter(\.isSensitive)
    /// Consents of the worst-case patient: `perGranteeMax` on each of the requester's four index lists.
    static let worstCaseConsents = ConsentContract.perGranteeMax * 4

    static let organizationSpecs: [OrganizationSpec] = [
        .init(name: "bench-hospital", type: .hospital), .init(name: "bench-clinic-1", type: .clinic),
        .init(name: "bench-clinic-2", type: .clinic), .init(name: "bench-payer", type: .payer),
        .init(name: "bench-pharmacy", type: .pharmacy), .init(name: "bench-lab", type: .laboratory),
        .init(name: "bench-hospital-2", type: .hospital), .init(name: "bench-sponsor", type: .sponsor),
        .init(name: "bench-clinic-3", type: .clinic), .init(name: "bench-hospital-3", type: .hospital),
    ]
    let chainId = "careledger-consent-bench"
    let members: [IdentityKeys]
    let patientKeys: [IdentityKeys]
    let worstPatient = IdentityKeys(seed: Hash256.sha256(Array("consent-bench-worst-patient".utf8)).bytes)
    let startMs: Int64
    /// Decisions are made one day after the chain starts: short consents have expired by then.
    var decisionTimeMs: Int64 { startMs + 86_400_000 }
    var organizationIDs: [IdentityID] = []
    /// Members holding each grantable role.
    let membersByRole: [Role: [Int]]

    init(patients: Int, startMs: Int64) {
        let memberCount = Self.membersPerOrganization * 10
        members = (0..<memberCount).map { IdentityKeys(seed: Hash256.sha256(Array("consent-bench-member-\($0)".utf8)).bytes) }
        patientKeys = (0..<patients).map { IdentityKeys(seed: Hash256.sha256(Array("consent-bench-patient-\($0)".utf8)).bytes) }
        self.startMs = startMs
        var byRole: [Role: [Int]] = [:]
        for index in 0..<memberCount { for role in Self.roles(ofMember: index) { byRole[role, default: []].append(index) } }
        membersByRole = byRole
    }

    static func organization(ofMember index: Int) -> Int { index / membersPerOrganization }
    /// The role sets each organization gives its staff in turn: those of `roleSets` its type allows.
    static let roleSetsByOrganization: [[[Role]]] = organizationSpecs.map { spec in
        roleSets.filter { Set($0).isSubset(of: MembershipContract.allowedRoles(for: spec.type)) }
    }
    static func roles(ofMember index: Int) -> [Role] {
        let sets = roleSetsByOrganization[organization(ofMember: index)]
        return sets[index % sets.count]
    }
    func record(_ patient: Int, _ which: Int) -> Hash256 { Hash256.sha256(Array("consent-bench-record-\(patient)-\(which)".utf8)) }
    var worstRecord: Hash256 { Hash256.sha256(Array("consent-bench-worst-record".utf8)) }
    /// The worst-case requester: a member of clinic 1 with roles clinician and emergency-clinician.
    var worstRequester: Int { (Self.membersPerOrganization...).first { Self.roles(ofMember: $0) == [.clinician, .emergencyClinician] }! }

    /// Enrollment of all staff, patient registration, and two records per patient (one general,
    /// one sensitive) written by the hospital's clinicians.
    mutating func setupTransactions(organizationKeys: [IdentityKeys]) -> [Transaction] {
        organizationIDs = organizationKeys.map(\.derivedID)
        var work: [(IdentityKeys, TransactionBody)] = []
        var sequences: [IdentityID: UInt64] = [:]
        func add(_ signer: IdentityKeys, _ call: some ContractMethod) {
            let sequence = sequences[signer.derivedID, default: 1] + 1
            sequences[signer.derivedID] = sequence
            work.append((signer, TransactionBody(chainId: chainId, sender: signer.derivedID, publicKey: signer.signingPublicKey,
                                                 sequence: sequence, call: call)))
        }
        for (index, member) in members.enumerated() {
            add(organizationKeys[Self.organization(ofMember: index)], MembershipContract.Enroll(
                label: "bench-staff-\(index)", roles: Self.roles(ofMember: index), signingKey: member.signingPublicKey,
                agreementKey: member.agreementPublicKey))
        }
        for patient in patientKeys + [worstPatient] {
            sequences[patient.derivedID] = 0
            add(patient, MembershipContract.RegisterPatient(agreementKey: patient.agreementPublicKey))
        }
        // The hospital's clinicians (the members of org 0 whose role set holds clinician) author the records.
        let authors = (0..<Self.membersPerOrganization).filter { Self.roles(ofMember: $0).contains(.clinician) }.map { members[$0] }
        for author in authors { sequences[author.derivedID] = 0 }
        for patient in 0..<patientKeys.count {
            for which in 0..<2 {
                add(authors[(patient * 2 + which) % authors.count], RecordsContract.Register(
                    record: record(patient, which), patient: patientKeys[patient].derivedID,
                    resourceType: Self.resourceTypes[(patient + which * 3) % Self.resourceTypes.count],
                    category: which == 0 ? .general : Self.sensitive[patient % Self.sensitive.count],
                    ciphertextHash: Hash256.sha256(Array("ciphertext-\(patient)-\(which)".utf8)), version: 1))
            }
        }
        add(authors[0], RecordsContract.Register(
            record: worstRecord, patient: worstPatient.derivedID, resourceType: "Observation", category: .mentalHealth,
            ciphertextHash: Hash256.sha256(Array("worst".utf8)), version: 1))
        return Self.sign(work)
    }

    /// The worst-case patient's consents: 32 on each index list the worst-case requester is
    /// covered by (itself, its organization, its two roles), none of which covers the record.
    func worstCaseTransactions() -> [Transaction] {
        let requester = members[worstRequester]
        let grantees: [Grantee] = [
            .member(requester.derivedID), .organization(organizationIDs[Self.organization(ofMember: worstRequester)]),
        ] + Self.roles(ofMember: worstRequester).map { .role($0) }
        var work: [(IdentityKeys, TransactionBody)] = []
        var sequence: UInt64 = 1
        for grantee in grantees {
            for _ in 0..<ConsentContract.perGranteeMax {
                sequence += 1
                work.append((worstPatient, TransactionBody(
                    chainId: chainId, sender: worstPatient.derivedID, publicKey: worstPatient.signingPublicKey, sequence: sequence,
                    call: ConsentContract.Grant(patient: worstPatient.derivedID, grantee: grantee, categories: [.general],
                                                purposes: [.treatment], actions: [.read]))))
            }
        }
        precondition(work.count == Self.worstCaseConsents)
        return Self.sign(work)
    }

    var worstCaseRequest: AccessRequest {
        AccessRequest(requester: members[worstRequester].derivedID, record: worstRecord, purpose: .treatment, action: .read)
    }

    /// One consent, derived from its global index `k`: patient `k % patients`, the patient's
    /// `k / patients`-th consent (sequence number after registration).
    struct Spec {
        enum GranteeKind { case member, organization, role }
        var patient: Int
        var ordinal: Int
        var granteeKind: GranteeKind
        var grantee: Int
        var scope: Int          // 0 none, 1 categories, 2 resource types, 3 one record
        var scopeValue: Int
        var purposes: [Purpose]
        var actions: [ConsentAction]
        var period: Int         // 0 open, 1 expired by decision time, 2 starts after decision time
    }

    func spec(_ k: Int) -> Spec {
        var rng = SplitMix64(seed: UInt64(k) &* 0x1000_0001)
        let roll = Int(rng.next() % 100)
        let kind: Spec.GranteeKind = roll < 70 ? .member : roll < 90 ? .organization : .role
        let grantee = switch kind {
        case .member: Int(rng.next() % UInt64(members.count))
        case .organization: Int(rng.next() % UInt64(Self.organizationSpecs.count))
        case .role: Int(rng.next() % UInt64(Self.grantRoles.count))
        }
        let purposeCount = 1 + Int(rng.next() % 3)
        var purposes = Set<Purpose>([.treatment])
        while purposes.count < purposeCount { purposes.insert(Purpose.allCases.randomElement(using: &rng)!) }
        let periodRoll = rng.next() % 100
        return Spec(patient: k % patientKeys.count, ordinal: k / patientKeys.count, granteeKind: kind, grantee: grantee,
                    scope: Int(rng.next() % 4), scopeValue: Int(rng.next() % 1_000), purposes: purposes.sorted(),
                    actions: rng.next() % 5 == 0 ? [.contribute, .read] : [.read], period: periodRoll < 70 ? 0 : periodRoll < 85 ? 1 : 2)
    }

    /// Signed grants for consents `range` (global indexes).
    func consentTransactions(_ range: Range<Int>) -> [Transaction] {
        Self.sign(range.map { k in
            let spec = spec(k)
            let patient = patientKeys[spec.patient]
            var grant = ConsentContract.Grant(patient: patient.derivedID, grantee: grantee(spec), purposes: spec.purposes, actions: spec.actions)
            switch spec.scope {
            case 1: grant.categories = [.general, Self.sensitive[spec.scopeValue % Self.sensitive.count]]
            case 2: grant.resourceTypes = [Self.resourceTypes[spec.scopeValue % Self.resourceTypes.count]]
            case 3: grant.records = [record(spec.patient, spec.scopeValue % 2)]
            default: break
            }
            switch spec.period {
            case 1: grant.endMs = startMs + 3_600_000
            case 2: grant.startMs = decisionTimeMs + 86_400_000
            default: break
            }
            return (patient, TransactionBody(chainId: chainId, sender: patient.derivedID, publicKey: patient.signingPublicKey,
                                             sequence: UInt64(spec.ordinal) + 2, call: grant))
        })
    }

    func grantee(_ spec: Spec) -> Grantee {
        switch spec.granteeKind {
        case .member: .member(members[spec.grantee].derivedID)
        case .organization: .organization(organizationIDs[spec.grantee])
        case .role: .role(Self.grantRoles[spec.grantee])
        }
    }

    /// A request: half aimed at a granted consent's grantee and patient, half at random.
    func request(consentsGranted: Int, _ rng: inout SplitMix64) -> AccessRequest {
        let randomPurpose = Purpose.allCases.randomElement(using: &rng)!
        let action: ConsentAction = rng.next() % 10 == 0 ? .contribute : .read
        if rng.next() % 2 == 0 {
            let spec = spec(Int(rng.next() % UInt64(consentsGranted)))
            let requester: Int = switch spec.granteeKind {
            case .member: spec.grantee
            case .organization: spec.grantee * Self.membersPerOrganization + Int(rng.next() % UInt64(Self.membersPerOrganization))
            case .role: membersByRole[Self.grantRoles[spec.grantee]]!.randomElement(using: &rng)!
            }
            let purpose = rng.next() % 10 < 7 ? spec.purposes.randomElement(using: &rng)! : randomPurpose
            return AccessRequest(requester: members[requester].derivedID, record: record(spec.patient, Int(rng.next() % 2)),
                                 purpose: purpose, action: action)
        }
        return AccessRequest(requester: members.randomElement(using: &rng)!.derivedID,
                             record: record(Int(rng.next() % UInt64(patientKeys.count)), Int(rng.next() % 2)),
                             purpose: randomPurpose, action: action)
    }

    /// Signs on all cores.
    static func sign(_ work: [(IdentityKeys, TransactionBody)]) -> [Transaction] {
        AllCores.map(work, chunk: 1_024) { Transaction.sign($0.1, with: $0.0) }
    }
}
