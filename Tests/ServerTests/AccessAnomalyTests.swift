import Contracts
import FHIR
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import LedgerCore
import Node
import Server
import Services
import Storage
import Testing
import Vault

/// The access-anomaly rules as a pure function: each threshold just below, at and above.
@Suite("Access-anomaly rules at their thresholds")
struct AccessAnomalyRuleTests {
    static let now: Int64 = 1_800_000_000_000
    static let day = AnomalyThresholds.dayMs
    static let member = Hash256.sha256([1])
    static let hospital = Hash256.sha256([2])
    static func patient(_ n: Int) -> IdentityID { Hash256.sha256(Array("patient \(n)".utf8)) }
    static let clinician = AnomalyRequester(organization: hospital, kind: .member, roles: [.clinician])

    /// Builds entries with consecutive indexes.
    struct Log {
        var entries: [AnomalyInput] = []
        mutating func add(_ requester: IdentityID = AccessAnomalyRuleTests.member, patient: IdentityID,
                          at timeMs: Int64 = AccessAnomalyRuleTests.now - 1_000, _ outcome: DecisionOutcome = .permit,
                          _ reason: DecisionReason = .custodianCareTeam, namedConsent: Bool = false, relationship: Bool = false) {
            entries.append(AnomalyInput(index: UInt64(entries.count), timeMs: timeMs, requester: requester, patient: patient, outcome: outcome,
                                        reason: reason, namedConsent: namedConsent, relationship: relationship))
        }
    }

    static func rules(_ log: Log, _ thresholds: AnomalyThresholds = .init(), requesters: [IdentityID: AnomalyRequester] = [member: clinician])
        -> [AnomalyRule] {
        AccessAnomalies.evaluate(log.entries, requesters: requesters, nowMs: now, thresholds: thresholds).filter { $0.requester == member }.map(\.rule)
    }

    /// (a) 10 distinct patients with no care relationship in 24 h: 9 no, 10 and 11 yes. Reads that
    /// show a relationship, repeated reads of one patient and entries without a patient never count.
    @Test(arguments: [(9, false), (10, true), (11, true)])
    func noCareRelationship(patients: Int, flagged: Bool) {
        var log = Log()
        for n in 0..<patients {
            log.add(patient: Self.patient(n))
            log.add(patient: Self.patient(n), at: Self.now - 500)
        }
        log.add(patient: Self.patient(100), .permit, .consent)
        log.add(patient: Self.patient(101), .deny, .purposeNotPermitted, namedConsent: true)
        log.add(patient: Self.patient(102), relationship: true)
        log.add(patient: Self.patient(103), .breakGlass, .breakGlass)
        log.add(patient: .zero, .deny, .unknownRecord)
        log.add(patient: Self.patient(104), at: Self.now - Self.day - 1)
        #expect(Self.rules(log).contains(.noCareRelationship) == flagged)
        let alert = AccessAnomalies.evaluate(log.entries, requesters: [Self.member: Self.clinician], nowMs: Self.now, thresholds: .init())
            .first { $0.rule == .noCareRelationship }
        if flagged {
            #expect(alert?.count == patients && alert?.threshold == 10 && alert?.evidenceTotal == 2 * patients)
            #expect(alert?.windowStartMs == Self.now - Self.day && alert?.requesterInfo.organization == Self.hospital)
        }
        // The care-team permit counts as a relationship only when configured so.
        var lenient = AnomalyThresholds()
        lenient.careTeamIsRelationship = true
        #expect(!Self.rules(log, lenient).contains(.noCareRelationship))
    }

    /// The window's edge: an entry exactly one window old counts, one a millisecond older does not.
    @Test(arguments: [(Int64(0), true), (Int64(1), false)])
    func windowEdge(olderBy: Int64, flagged: Bool) {
        var log = Log()
        for n in 0..<9 { log.add(patient: Self.patient(n)) }
        log.add(patient: Self.patient(9), at: Self.now - Self.day - olderBy)
        #expect(Self.rules(log).contains(.noCareRelationship) == flagged)
    }

    /// (c) 10 denials in 24 h: 9 no, 10 and 11 yes.
    @Test(arguments: [(9, false), (10, true), (11, true)])
    func denials(count: Int, flagged: Bool) {
        var log = Log()
        for _ in 0..<count { log.add(patient: Self.patient(1), .deny, .noConsent, relationship: true) }
        log.add(patient: Self.patient(1), at: Self.now - Self.day - 1, .deny, .noConsent, relationship: true)
        #expect(Self.rules(log) == (flagged ? [.denials] : []))
    }

    /// (d) break-glass on 3 distinct patients in 7 days: 2 no, 3 and 4 yes; one patient twice counts once.
    @Test(arguments: [(2, false), (3, true), (4, true)])
    func repeatedBreakGlass(patients: Int, flagged: Bool) {
        var log = Log()
        for n in 0..<patients { log.add(patient: Self.patient(n), at: Self.now - Int64(n) * Self.day, .breakGlass, .breakGlass) }
        log.add(patient: Self.patient(0), .breakGlass, .breakGlass)
        log.add(patient: Self.patient(50), at: Self.now - 7 * Self.day - 1, .breakGlass, .breakGlass)
        #expect(Self.rules(log) == (flagged ? [.repeatedBreakGlass] : []))
    }

    /// (b) against the own median: three active earlier days of 20 reads (and one idle day) make a
    /// median of 20, so more than 60 fires: 60 no, 61 and 62 yes.
    @Test(arguments: [(60, false), (61, true), (62, true)])
    func readRateAgainstOwnMedian(reads: Int, flagged: Bool) throws {
        var log = Log()
        for day in [1, 2, 4] {
            for n in 0..<20 { log.add(patient: Self.patient(n), at: Self.now - Int64(day) * Self.day - 1, relationship: true) }
        }
        for n in 0..<reads { log.add(patient: Self.patient(n % 20), relationship: true) }
        #expect(Self.rules(log) == (flagged ? [.readRate] : []))
        let alert = AccessAnomalies.evaluate(log.entries, requesters: [Self.member: Self.clinician], nowMs: Self.now, thresholds: .init()).first
        if flagged {
            let baselines = try #require(alert?.baselines)
            #expect(baselines.ownMedian == 20 && baselines.ownWindows == 3 && baselines.exceeded == ["own"] && baselines.roleMedian == nil)
            #expect(alert?.count == reads && alert?.threshold == 61 && alert?.evidence.count == AccessAnomalies.evidenceMax)
        }
    }

    /// (b) against the role median: a new clinician (no history of their own) and five peers whose
    /// earlier days had 10 reads; more than 50 fires: 50 no, 51 and 52 yes.
    @Test(arguments: [(50, false), (51, true), (52, true)])
    func readRateAgainstRoleMedian(reads: Int, flagged: Bool) {
        var log = Log()
        var requesters = [Self.member: Self.clinician]
        for peer in 0..<5 {
            let id = Hash256.sha256(Array("peer \(peer)".utf8))
            requesters[id] = Self.clinician
            for n in 0..<10 { log.add(id, patient: Self.patient(n), at: Self.now - 3 * Self.day, relationship: true) }
        }
        for n in 0..<reads { log.add(patient: Self.patient(n % 10), relationship: true) }
        #expect(Self.rules(log, requesters: requesters) == (flagged ? [.readRate] : []))
        // A nurse is no clinician's peer: no role baseline, so nothing fires below the ceiling.
        requesters[Self.member] = AnomalyRequester(organization: Self.hospital, kind: .member, roles: [.nurse])
        #expect(Self.rules(log, requesters: requesters).isEmpty)
    }

    /// (b) the ceiling, whatever the baselines: 999 no, 1,000 and 1,001 yes.
    @Test(arguments: [(999, false), (1_000, true), (1_001, true)])
    func readCeiling(reads: Int, flagged: Bool) {
        var log = Log()
        for n in 0..<reads { log.add(patient: Self.patient(n % 5), relationship: true) }
        #expect(Self.rules(log) == (flagged ? [.readRate] : []))
    }

    /// Thresholds are set by name; a bad name or value is refused with the names that exist.
    @Test func thresholdsAreSetByName() throws {
        var thresholds = AnomalyThresholds()
        try thresholds.set("denials", "3")
        try thresholds.set("care-team-is-relationship", "true")
        try thresholds.set("break-glass-window-min", "60")
        #expect(thresholds.denials == 3 && thresholds.careTeamIsRelationship && thresholds.breakGlassWindowMs == 3_600_000)
        for (name, value) in [("denials", "0"), ("denials", "x"), ("bogus", "1"), ("care-team-is-relationship", "yes"), ("rate-window-min", "999999")] {
            #expect(throws: ServiceError.self) { try thresholds.set(name, value) }
        }
        #expect(AnomalyThresholds().settings.count == 15)
    }
}

/// A node holding a hospital's and a clinic's records: clinicians with their own patients, an
/// emergency physician, a snooping clinician, a clinic doctor without consent, a clinic emergency
/// clinician, and an auditor. Fifteen days of traffic on the access service's clock, ending now.
final class AnomalyWorkload: @unchecked Sendable {
    static let chainId = "anomaly-test"
    static let day = AnomalyThresholds.dayMs
    let directory: URL
    let node: LedgerNode
    let client: LedgerClient
    let clock: ManualClock
    let access: AccessService
    let hospital = IdentityKeys(seed: Array(repeating: 60, count: 32))
    let clinic = IdentityKeys(seed: Array(repeating: 61, count: 32))
    let nodeKeys = IdentityKeys(seed: Array(repeating: 62, count: 32))
    let doctorA = IdentityKeys(seed: Array(repeating: 63, count: 32))
    let doctorB = IdentityKeys(seed: Array(repeating: 64, count: 32))
    let snooper = IdentityKeys(seed: Array(repeating: 65, count: 32))
    let er = IdentityKeys(seed: Array(repeating: 66, count: 32))
    let auditor = IdentityKeys(seed: Array(repeating: 67, count: 32))
    let clinicDoctor = IdentityKeys(seed: Array(repeating: 68, count: 32))
    let clinicER = IdentityKeys(seed: Array(repeating: 69, count: 32))
    let patients = (0..<30).map { IdentityKeys(seed: Array(repeating: UInt8(100 + $0), count: 32)) }
    /// One hospital record per patient: 0–9 written by doctor A, 10–19 by doctor B, 20–29 by the ER physician.
    private(set) var hospitalRecords: [Hash256] = []
    /// Clinic records of patients 0–3, written by the clinic doctor.
    private(set) var clinicRecords: [Hash256] = []
    /// Audit indexes of the snooper's reads.
    private(set) var snooperEntries: [UInt64] = []

    init() async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("careledger-anomaly-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        let store = try SQLiteLedgerStore(path: directory.appendingPathComponent("ledger.sqlite").path)
        let realNow = SystemClock().nowMs()
        _ = try Genesis.create(in: store, chainId: Self.chainId, founders: [Founder(keys: hospital, label: "hospital", type: .hospital),
                                                                            Founder(keys: clinic, label: "clinic", type: .clinic)],
                               ordererKeys: nodeKeys, timeMs: realNow - 60_000)
        node = try await LedgerNode(store: store, ordererKeys: nodeKeys, configuration: .init(blockDelayMs: 2))
        client = LedgerClient(node: node)
        // The access service stamps entries on its own clock: fifteen days ago (an hour after the
        // start of the oldest baseline window), moved forward below.
        clock = ManualClock(startMs: realNow - 15 * Self.day + 3_600_000)
        access = AccessService(node: node, vault: InMemoryVaultStore(), custodians: [hospital, clinic],
                               indexKey: try BlindIndexKey(secret: Array(repeating: 7, count: 32)), clock: clock)
    }

    func close() async {
        await node.stop()
        try? FileManager.default.removeItem(at: directory)
    }

    /// Staff, patients and records.
    func populate() async throws {
        var enrolls: [UnsignedCall] = []
        for (member, org, role) in [(doctorA, hospital, Role.clinician), (doctorB, hospital, .clinician), (snooper, hospital, .clinician),
                                    (er, hospital, .emergencyClinician), (auditor, hospital, .auditor), (clinicDoctor, clinic, .clinician),
                                    (clinicER, clinic, .emergencyClinician)] {
            enrolls.append(UnsignedCall(org, call: MembershipContract.Enroll(label: "staff", roles: [role], signingKey: member.signingPublicKey,
                                                                             agreementKey: member.agreementPublicKey)))
        }
        enrolls += patients.map { UnsignedCall($0, call: MembershipContract.RegisterPatient(agreementKey: $0.agreementPublicKey)) }
        try await client.commit(enrolls)
        var registrations: [UnsignedCall] = []
        func record(_ n: Int, by author: IdentityKeys, at custodian: IdentityKeys) throws -> Hash256 {
            let id = Hash256.sha256(Array("record \(n) \(custodian.derivedID.hex)".utf8))
            let prepared = try access.prepare(content: Array(#"{"resourceType":"Observation","status":"final"}"#.utf8), record: id, version: 1,
                                              patient: patients[n].derivedID, custodian: custodian.derivedID)
            try access.store(prepared.version)
            registrations.append(UnsignedCall(author, call: RecordsContract.Register(
                record: id, patient: patients[n].derivedID, resourceType: "Observation", category: .general,
                ciphertextHash: prepared.version.blob.hash, version: 1)))
            return id
        }
        hospitalRecords = try (0..<30).map { n in try record(n, by: n < 10 ? doctorA : n < 20 ? doctorB : er, at: hospital) }
        clinicRecords = try (0..<4).map { n in try record(n, by: clinicDoctor, at: clinic) }
        try await client.commit(registrations)
    }

    /// Reads, logged on the access service's clock.
    @discardableResult
    func read(_ reader: IdentityKeys, _ records: [Hash256], purpose: Purpose = .treatment) async throws -> [ServedRecord] {
        try await access.serve(records.map { AccessRequest(requester: reader.derivedID, record: $0, purpose: purpose, action: .read) })
    }

    /// Breaks the glass on a record (on-chain grant, then the logged read with its sealed justification).
    func breakGlass(_ reader: IdentityKeys, _ record: Hash256, patient: Int) async throws {
        let sealed = try SealedNote.seal("unresponsive on arrival", to: patients[patient].derivedID, agreementKey: patients[patient].agreementPublicKey)
        try await client.commit(client.sign(reader, ConsentContract.BreakGlass(patient: patients[patient].derivedID, record: record, reason: .unconscious,
                                                                               justificationHash: Hash256.sha256(sealed), minutes: 240)))
        let release = try await access.read(AccessRequest(requester: reader.derivedID, record: record, purpose: .emergencyTreatment, action: .read),
                                            sealedJustification: sealed)
        #expect(release.decision.outcome == .breakGlass)
    }

    /// Fourteen ordinary days, then today: the usual traffic, the snooper, the clinic doctor's
    /// denials, the ER physician's one break-glass and the clinic emergency clinician's three.
    func run() async throws {
        for _ in 0..<14 {
            try await read(doctorA, Array(hospitalRecords[0..<10]))
            try await read(doctorB, Array(hospitalRecords[10..<20]))
            try await read(er, Array(hospitalRecords[20..<30]) + Array(hospitalRecords[20..<30]))
            clock.advance(ms: Self.day)
        }
        clock.advance(ms: SystemClock().nowMs() - 2 * 3_600_000 - clock.nowMs())
        try await read(doctorA, Array(hospitalRecords[0..<10]))
        try await read(doctorB, Array(hospitalRecords[10..<20]))
        try await read(er, Array(hospitalRecords[20..<30]) + Array(hospitalRecords[20..<30]) + Array(hospitalRecords[20..<25]))
        try await breakGlass(er, clinicRecords[0], patient: 0)
        let snooped = try await read(snooper, Array(hospitalRecords[0..<12]))
        #expect(snooped.allSatisfy { $0.decision.reason == .custodianCareTeam }, "the snooper's reads are permitted: the custodian's care team")
        snooperEntries = snooped.map(\.auditIndex)
        let denied = try await read(clinicDoctor, Array(hospitalRecords[10..<20]))
        #expect(denied.allSatisfy { $0.decision.outcome == .deny })
        for n in 20..<23 { try await breakGlass(clinicER, hospitalRecords[n], patient: n) }
    }
}

@Suite("Access-anomaly alerts over a node's access log", .serialized)
struct AccessAnomalyWorkloadTests {
    static func pairs(_ report: AnomalyReport) -> Set<String> {
        Set(report.alerts.map { "\($0.rule.rawValue) \($0.requester.hex)" })
    }

    @Test(.timeLimit(.minutes(5)))
    func theSnooperTheDenialsAndTheRepeatedBreakGlassAreFlaggedTheBusyERPhysicianIsNot() async throws {
        let w = try await AnomalyWorkload()
        do {
            try await w.populate()
            try await w.run()
            let report = try await w.access.accessAnomalies(as: nil)
            let flagged = Self.pairs(report)
            #expect(flagged == [
                "no-care-relationship \(w.snooper.derivedID.hex)",
                "no-care-relationship \(w.clinicDoctor.derivedID.hex)", "denials \(w.clinicDoctor.derivedID.hex)",
                "repeated-break-glass \(w.clinicER.derivedID.hex)",
            ], "\(report.alerts)")
            #expect(report.nowMs == (await w.node.headHeader).timeMs, "now is the head block's time")
            #expect(!report.truncated && report.scanned == report.considered)

            // The snooper: twelve patients, each read with nothing but the blanket care-team permit.
            let snooped = try #require(report.alerts.first { $0.rule == .noCareRelationship && $0.requester == w.snooper.derivedID })
            #expect(snooped.count == 12 && snooped.threshold == 10 && snooped.requesterInfo.roles == [.clinician])
            #expect(snooped.requesterInfo.organization == w.hospital.derivedID)
            #expect(snooped.evidence.map(\.index) == w.snooperEntries)
            let denials = try #require(report.alerts.first { $0.rule == .denials })
            #expect(denials.count == 10 && denials.evidence.allSatisfy { $0.reason == .noConsent })
            #expect(report.alerts.first { $0.rule == .repeatedBreakGlass }?.count == 3)

            // The busy ER physician: 25 reads today of patients they wrote for (usual: 20 a day), one justified break-glass.
            #expect(!report.alerts.contains { $0.requester == w.er.derivedID })
            // Counting the care-team permit as a relationship clears the snooper, as documented.
            let lenient = try await w.access.accessAnomalies(as: nil, settings: [("care-team-is-relationship", "true")])
            #expect(!lenient.alerts.contains { $0.requester == w.snooper.derivedID })
            // A rate spike: with a lower ceiling the ER physician's 26 reads today fire, and the baselines are shown.
            let spiked = try await w.access.accessAnomalies(as: nil, settings: [("reads-ceiling", "26")])
            let rate = try #require(spiked.alerts.first { $0.rule == .readRate && $0.requester == w.er.derivedID })
            #expect(rate.count == 26 && rate.baselines?.ownMedian == 20 && rate.baselines?.ownWindows == 14 && rate.baselines?.exceeded == ["ceiling"])

            // No PHI in the alerts: no patient or record id.
            let text = String(decoding: try JSONSerialization.data(withJSONObject: report.json), as: UTF8.self)
            for id in w.patients.map(\.derivedID) + w.hospitalRecords + w.clinicRecords { #expect(!text.contains(id.hex)) }

            // The hospital's auditor sees the alerts over the hospital's records; the clinic sees only
            // the ER physician's break-glass on its record, which flags nothing; a clinician is refused.
            let identity = { (keys: IdentityKeys) in try #require(Directory.identity(keys.derivedID, in: w.node.state)) }
            let audited = try await w.access.accessAnomalies(as: try identity(w.auditor))
            #expect(Self.pairs(audited) == flagged)
            let clinicView = try await w.access.accessAnomalies(as: try identity(w.clinic))
            #expect(clinicView.alerts.isEmpty && clinicView.considered == 1, "the clinic's records: the ER physician's one read")
            await #expect(throws: ServiceError.forbidden("only a custodian held by this node, its auditors and its admins read access-anomaly alerts")) {
                try await w.access.accessAnomalies(as: try identity(w.doctorA), settings: [("bogus", "1")])
            }
        } catch {
            await w.close()
            throw error
        }
        await w.close()
    }

    @Test(.timeLimit(.minutes(5)))
    func overHTTPAnAuditorGetsTheAlertsAClinicianIsRefused() async throws {
        let w = try await AnomalyWorkload()
        do {
            try await w.populate()
            try await w.run()
            let services = ServerServices(node: w.node, nodeKeys: w.nodeKeys,
                                          tokens: await TokenAuthority(nodeKeys: w.nodeKeys, chainId: AnomalyWorkload.chainId,
                                                                       publicURL: ServerFixture.publicURL, usedAssertions: InMemoryUsedAssertions()),
                                          fhir: FHIRService(client: w.client, access: w.access, patientKeys: MemoryPatientKeyStore(),
                                                            recordIDs: FHIRRecordIDs(key: try RecordIDKey(secret: Array(repeating: 4, count: 32)))))
            try await LedgerServer.application(services, port: 0).test(.router) { client in
                let auditor = FHIRClient(client: client, bearer: try await token(client, for: w.auditor))
                let doctor = FHIRClient(client: client, bearer: try await token(client, for: w.doctorA))
                let answer = try await auditor.call(.get, "/v1/audit/anomalies")
                #expect(answer.status == .ok, "\(answer.json)")
                let alerts = try #require(answer.json["alerts"] as? [[String: Any]])
                let snooped = try #require(alerts.first { $0["rule"] as? String == "no-care-relationship" && $0["member"] as? String == w.snooper.derivedID.hex })
                #expect(snooped["organization"] as? String == w.hospital.derivedID.hex && snooped["roles"] as? [String] == ["clinician"])
                #expect(snooped["count"] as? Int == 12 && snooped["threshold"] as? Int == 10)
                #expect((snooped["evidence"] as? [[String: Any]])?.compactMap { ($0["index"] as? NSNumber)?.uint64Value } == w.snooperEntries)
                #expect((answer.json["now_ms"] as? NSNumber)?.int64Value == (await w.node.headHeader).timeMs)
                #expect(Set(alerts.compactMap { $0["rule"] as? String }) == ["no-care-relationship", "denials", "repeated-break-glass"])
                // Thresholds as query parameters; a bad one is a 400 for an auditor, and a clinician is refused before any is read.
                let strict = try await auditor.call(.get, "/v1/audit/anomalies?unrelated-patients=13")
                #expect((strict.json["alerts"] as? [[String: Any]])?.contains { $0["member"] as? String == w.snooper.derivedID.hex } == false)
                #expect(try await auditor.call(.get, "/v1/audit/anomalies?denials=0").status == .badRequest)
                #expect(try await doctor.call(.get, "/v1/audit/anomalies").status == .forbidden)
                #expect(try await doctor.call(.get, "/v1/audit/anomalies?bogus=1").status == .forbidden)
                let paths = try #require(try await doctor.call(.get, "/v1/openapi.json").json["paths"] as? [String: Any])
                #expect(paths["/v1/audit/anomalies"] != nil)
            }
        } catch {
            await w.close()
            throw error
        }
        await w.close()
    }
}
