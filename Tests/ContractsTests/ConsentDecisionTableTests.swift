import Contracts
import LedgerCore
import Testing

/// One chain with staff of two organizations and a payer's agents, a patient with a guardian,
/// records in both custodies and consents of every shape. Every row of the decision table is
/// decided against it.
struct DecisionTableFixture: Sendable {
    static let k = Harness.keys
    // Hospital staff (the hospital is the custodian of the doctor's records).
    static let er = k(80), auditor = k(81)
    // A payer and its agents.
    static let payer = k(89), payer1 = k(82), payer2 = k(83), payer3 = k(84)
    // Clinic staff.
    static let clinicDoctor = k(85), researcher = k(86), revokedMember = k(87)
    // A second registered patient, named as the patient's guardian.
    static let guardian = k(88)

    // Hospital records (author: Harness.doctor), clinic records (author: clinicDoctor).
    static let obs = Hash256.sha256([0xA1]), mentalHealth = Hash256.sha256([0xA2]), erased = Hash256.sha256([0xA3])
    static let clinicNote = Hash256.sha256([0xA4]), clinicLab = Hash256.sha256([0xA5])
    static let unknownRecord = Hash256.sha256([0xAF])
    /// A hospital Organization resource: directory data, no patient.
    static let directoryEntry = Hash256.sha256([0xA6])
    /// A hospital Device resource about no identifiable patient: custodian-only.
    static let device = Hash256.sha256([0xA7])

    static let shared = DecisionTableFixture()

    var h = Harness.standard()
    /// Consent ids by name.
    var consents: [String: Hash256] = [:]
    /// Height of the block holding the consents and the break-glass grant.
    var grantHeight: UInt64 = 0

    init() {
        typealias F = DecisionTableFixture
        h.runAccepted([
            h.enroll(F.er, by: Harness.hospital, roles: ["emergency-clinician"]),
            h.enroll(F.auditor, by: Harness.hospital, roles: ["auditor"]),
            h.admitOrg(F.payer, "payer"),
            h.enroll(F.payer1, by: F.payer, roles: ["payer-agent"]),
            h.enroll(F.payer2, by: F.payer, roles: ["payer-agent"]),
            h.enroll(F.payer3, by: F.payer, roles: ["payer-agent"]),
            h.enroll(F.clinicDoctor, by: Harness.clinic, roles: ["clinician"]),
            h.enroll(F.researcher, by: Harness.clinic, roles: ["researcher"]),
            h.enroll(F.revokedMember, by: Harness.clinic, roles: ["clinician"]),
            h.registerPatient(F.guardian),
        ], "staff")
        h.runAccepted([
            h.revokeMember(F.revokedMember, by: Harness.clinic),
            h.addDelegate(F.guardian),
            h.putRecord(F.obs, "Observation", "general", by: Harness.doctor),
            h.putRecord(F.mentalHealth, "Condition", "mental-health", by: Harness.doctor),
            h.putRecord(F.erased, "Observation", "general", by: Harness.doctor),
            h.putRecord(F.clinicNote, "Observation", "general", by: F.clinicDoctor),
            h.putRecord(F.clinicLab, "Observation", "general", by: F.clinicDoctor),
            h.putRecord(F.directoryEntry, "Organization", "general", by: Harness.doctor, patient: nil),
            h.putRecord(F.device, "Device", "general", by: Harness.doctor, patient: nil),
        ], "records")

        // Order matters where one grantee holds two consents: the losing one is listed first, so
        // the reported reason is the closest failure, not the first one seen.
        let grants: [(String, Grantee, [String], [String], CanonicalMap)] = [
            // Member, scoped by resource type, read-only, treatment only.
            ("member", .member(F.clinicDoctor.derivedID), ["TREAT"], ["read"], ["resourceTypes": .list([.string("Observation")])]),
            // Every active clinic member, operations only, no scope (so no sensitive records).
            ("organization", .organization(Harness.clinic.derivedID), ["HOPERAT"], ["read"], [:]),
            // Every researcher, names the mental-health category, ends at 5 000 ms.
            ("role", .role(.researcher), ["HRESCH"], ["read"], ["categories": .list([.string("mental-health")]), "endMs": .int(5_000)]),
            // The researcher, from 100 000 ms on.
            ("future", .member(F.researcher.derivedID), ["HRESCH"], ["read"],
             ["resourceTypes": .list([.string("Observation")]), "startMs": .int(100_000)]),
            // The hospital auditor: one record, operations, read.
            ("auditor", .member(F.auditor.derivedID), ["HOPERAT"], ["read"], ["records": .list([.bytes(F.obs.bytes)])]),
            // payer1: purpose miss listed first, then an expiring consent.
            ("payer1-treat", .member(F.payer1.derivedID), ["TREAT"], ["read"], [:]),
            ("payer1-expiring", .member(F.payer1.derivedID), ["HPAYMT"], ["read"], ["endMs": .int(5_000)]),
            // payer2: action miss listed first, then a purpose miss.
            ("payer2-contribute", .member(F.payer2.derivedID), ["HPAYMT"], ["contribute"], [:]),
            ("payer2-treat", .member(F.payer2.derivedID), ["TREAT"], ["read"], [:]),
            // payer3: a record-scoped consent naming the sensitive record, then an action miss.
            ("payer3-record", .member(F.payer3.derivedID), ["HPAYMT"], ["read"], ["records": .list([.bytes(F.mentalHealth.bytes)])]),
            ("payer3-contribute", .member(F.payer3.derivedID), ["HPAYMT"], ["contribute"], [:]),
        ]
        var block: [VerifiedTransaction] = []
        for (name, grantee, purposes, actions, extra) in grants {
            let tx = h.grantConsent(to: grantee, purposes: purposes, actions: actions, extra: extra)
            consents[name] = tx.id
            block.append(tx)
        }
        block.append(h.eraseRecord(F.erased, by: Harness.patient))
        block.append(h.breakGlass(by: F.er, record: F.clinicNote, minutes: 60))
        grantHeight = h.runAccepted(block, "consents")
    }
}

/// One access request and the decision expected for it.
struct DecisionTableRow: CustomStringConvertible, Sendable {
    /// The height the decision applies at.
    enum At: Sendable { case nextBlock, grantBlock }

    let description: String
    let requester: IdentityKeys
    let record: Hash256
    var purpose: Purpose = .treatment
    var action: ConsentAction = .read
    var nowMs: Int64 = 4_000
    var at: At = .nextBlock
    let outcome: DecisionOutcome
    let reason: DecisionReason
    /// Name of the consent the decision must report (fixture's `consents`), or nil for none.
    var consent: String? = nil
}

@Suite("Consent decision table")
struct ConsentDecisionTableTests {
    typealias F = DecisionTableFixture
    typealias Row = DecisionTableRow

    static let rows: [Row] = [
        // Permits without consent.
        Row(description: "patient reads own record", requester: Harness.patient, record: F.obs, outcome: .permit, reason: .patientSelf),
        Row(description: "patient may also contribute, for any purpose", requester: Harness.patient, record: F.clinicNote,
            purpose: .research, action: .contribute, outcome: .permit, reason: .patientSelf),
        Row(description: "guardian delegate reads a sensitive record", requester: F.guardian, record: F.mentalHealth,
            outcome: .permit, reason: .delegate),
        Row(description: "a delegate only reads", requester: F.guardian, record: F.mentalHealth, action: .contribute,
            outcome: .deny, reason: .noConsent),
        Row(description: "author reads for any purpose", requester: Harness.doctor, record: F.mentalHealth, purpose: .research,
            outcome: .permit, reason: .author),
        Row(description: "custodian's emergency clinician treats", requester: F.er, record: F.obs, outcome: .permit, reason: .custodianCareTeam),
        Row(description: "custodian care team covers operations", requester: F.er, record: F.obs, purpose: .operations,
            outcome: .permit, reason: .custodianCareTeam),
        // Security finding 13: a sensitive category needs a consent naming it, even for the care team.
        Row(description: "custodian care team does not read a sensitive category", requester: F.er, record: F.mentalHealth,
            purpose: .operations, outcome: .deny, reason: .noConsent),
        Row(description: "custodian's clinician for research falls through to no consent", requester: F.er, record: F.obs,
            purpose: .research, outcome: .deny, reason: .noConsent),
        Row(description: "custodian member with a non-care role falls through to their consent", requester: F.auditor, record: F.obs,
            purpose: .operations, outcome: .permit, reason: .consent, consent: "auditor"),
        // Consents of each grantee kind.
        Row(description: "consent to a member, scoped by resource type", requester: F.clinicDoctor, record: F.obs,
            outcome: .permit, reason: .consent, consent: "member"),
        Row(description: "consent to an organization", requester: F.researcher, record: F.obs, purpose: .operations,
            outcome: .permit, reason: .consent, consent: "organization"),
        Row(description: "consent to a role, naming the sensitive category", requester: F.researcher, record: F.mentalHealth,
            purpose: .research, outcome: .permit, reason: .consent, consent: "role"),
        Row(description: "consent scoped to a sensitive record by naming the record", requester: F.payer3, record: F.mentalHealth,
            purpose: .payment, outcome: .permit, reason: .consent, consent: "payer3-record"),
        Row(description: "expiring consent before its end", requester: F.payer1, record: F.obs, purpose: .payment,
            outcome: .permit, reason: .consent, consent: "payer1-expiring"),
        Row(description: "future consent once its start has passed", requester: F.researcher, record: F.obs, purpose: .research,
            nowMs: 200_000, outcome: .permit, reason: .consent, consent: "future"),
        // Break-glass (the ER doctor is at the hospital; the break-glass record is in the clinic's custody).
        Row(description: "break-glass within its time", requester: F.er, record: F.clinicNote, purpose: .emergencyTreatment,
            outcome: .breakGlass, reason: .breakGlass),
        Row(description: "break-glass after it expired", requester: F.er, record: F.clinicNote, purpose: .emergencyTreatment,
            nowMs: 4_000_000, outcome: .deny, reason: .breakGlassExpired),
        Row(description: "break-glass requires emergency treatment", requester: F.er, record: F.clinicNote,
            outcome: .deny, reason: .noConsent),
        Row(description: "break-glass requires read", requester: F.er, record: F.clinicNote, purpose: .emergencyTreatment,
            action: .contribute, outcome: .deny, reason: .noConsent),
        Row(description: "break-glass is limited to its record", requester: F.er, record: F.clinicLab, purpose: .emergencyTreatment,
            outcome: .deny, reason: .noConsent),
        Row(description: "break-glass is not in effect inside its own block", requester: F.er, record: F.clinicNote,
            purpose: .emergencyTreatment, at: .grantBlock, outcome: .deny, reason: .noConsent),
        Row(description: "directory data is readable by any active identity, for any purpose", requester: F.researcher,
            record: F.directoryEntry, purpose: .research, outcome: .permit, reason: .directoryResource),
        Row(description: "directory data takes contributions only from its custodian", requester: F.clinicDoctor,
            record: F.directoryEntry, action: .contribute, outcome: .deny, reason: .noConsent),
        Row(description: "directory data is not readable by a revoked member", requester: F.revokedMember,
            record: F.directoryEntry, outcome: .deny, reason: .requesterRevoked),
        Row(description: "a record about no patient is not public", requester: F.clinicDoctor, record: F.device,
            outcome: .deny, reason: .noConsent),
        Row(description: "a record about no patient is readable by its author", requester: Harness.doctor, record: F.device,
            outcome: .permit, reason: .author),
        // Requester and record failures.
        Row(description: "unknown requester", requester: Harness.stranger, record: F.obs, outcome: .deny, reason: .unknownRequester),
        Row(description: "revoked requester", requester: F.revokedMember, record: F.obs, outcome: .deny, reason: .requesterRevoked),
        Row(description: "unknown record", requester: Harness.doctor, record: F.unknownRecord, outcome: .deny, reason: .unknownRecord),
        Row(description: "erased record, even for the patient", requester: Harness.patient, record: F.erased,
            outcome: .deny, reason: .recordErased),
        Row(description: "erased record, even for its author", requester: Harness.doctor, record: F.erased,
            outcome: .deny, reason: .recordErased),
        Row(description: "no consent at all", requester: Harness.doctor, record: F.clinicNote, outcome: .deny, reason: .noConsent),
        // Single consent failures.
        Row(description: "expired role consent (beats a sensitive miss of the org consent)", requester: F.researcher,
            record: F.mentalHealth, purpose: .research, nowMs: 6_000, outcome: .deny, reason: .consentExpired, consent: "role"),
        Row(description: "not-yet-valid consent (beats org purpose and role scope misses)", requester: F.researcher, record: F.obs,
            purpose: .research, outcome: .deny, reason: .consentNotYetValid, consent: "future"),
        Row(description: "consent granted in this very block is not valid yet", requester: F.clinicDoctor, record: F.obs,
            at: .grantBlock, outcome: .deny, reason: .consentNotYetValid, consent: "member"),
        Row(description: "purpose-limited consent", requester: F.auditor, record: F.obs, outcome: .deny,
            reason: .purposeNotPermitted, consent: "auditor"),
        Row(description: "read-only consent", requester: F.auditor, record: F.obs, purpose: .operations, action: .contribute,
            outcome: .deny, reason: .actionNotPermitted, consent: "auditor"),
        Row(description: "record-scoped consent misses another record", requester: F.auditor, record: F.mentalHealth,
            purpose: .operations, outcome: .deny, reason: .outsideScope, consent: "auditor"),
        Row(description: "sensitive category not named (beats a resource-type miss)", requester: F.clinicDoctor,
            record: F.mentalHealth, outcome: .deny, reason: .sensitiveNotNamed, consent: "organization"),
        // Closest failure among two consents of one grantee (the loser is listed first).
        Row(description: "closest failure: expired beats purpose", requester: F.payer1, record: F.obs, purpose: .payment,
            nowMs: 6_000, outcome: .deny, reason: .consentExpired, consent: "payer1-expiring"),
        Row(description: "closest failure: purpose beats action", requester: F.payer2, record: F.obs, purpose: .payment,
            outcome: .deny, reason: .purposeNotPermitted, consent: "payer2-treat"),
        Row(description: "closest failure: action beats scope", requester: F.payer3, record: F.obs, purpose: .payment,
            outcome: .deny, reason: .actionNotPermitted, consent: "payer3-contribute"),
    ]

    static let requesterFailures: Set<DecisionReason> = [.unknownRequester, .requesterRevoked, .unknownRecord]

    @Test("Decision table", arguments: rows)
    func decide(_ row: Row) throws {
        let f = F.shared
        let height = switch row.at {
        case .nextBlock: f.h.height
        case .grantBlock: f.grantHeight
        }
        let request = AccessRequest(requester: row.requester.derivedID, record: row.record, purpose: row.purpose, action: row.action)
        let decision = ConsentPolicy.decide(request, in: f.h.state, nowMs: row.nowMs, height: height)
        #expect(decision.outcome == row.outcome, "\(row)")
        #expect(decision.reason == row.reason, "\(row): \(decision.reason.text)")
        let expectedConsent = try row.consent.map { name in try #require(f.consents[name], "no consent named \(name)") }
        #expect(decision.consent == expectedConsent, "\(row)")
        #expect(decision.isPermitted == (row.outcome != .deny))
        if Self.requesterFailures.contains(row.reason) {
            #expect(decision.record == nil)
        } else {
            #expect(decision.record?.record == row.record)
        }
        // A pure function: the same question gets the same answer.
        #expect(ConsentPolicy.decide(request, in: f.h.state, nowMs: row.nowMs, height: height) == decision)
    }

    @Test func rowsCoverEveryReason() {
        let covered = Set(Self.rows.map(\.reason))
        #expect(covered == DecisionReason.consentReasons, "missing: \(DecisionReason.consentReasons.subtracting(covered))")
        #expect(Set(Self.rows.map(\.outcome)) == Set(DecisionOutcome.allCases))
    }

    @Test func rowsAreDistinct() {
        #expect(Set(Self.rows.map(\.description)).count == Self.rows.count)
    }

    @Test func fixtureState() throws {
        let f = F.shared
        let patient = Harness.patientID
        #expect(ConsentIndex.delegates(of: patient, in: f.h.state).map(\.id) == [F.guardian.derivedID])
        #expect(ConsentIndex.isDelegate(F.guardian.derivedID, of: patient, in: f.h.state))
        let erased = try #require(RecordIndex.current(F.erased, in: f.h.state))
        #expect(erased.erasedHeight == f.grantHeight && erased.erasedBy == patient)
        let grant = try #require(ConsentIndex.breakGlass(patient: patient, requester: F.er.derivedID, in: f.h.state))
        #expect(grant.record == F.clinicNote && grant.height == f.grantHeight)
        #expect(grant.expiresMs == 1_000 + Int64(f.grantHeight) + 60 * 60_000)
        let notices = f.h.state.values.keys.filter { $0.hasPrefix(ConsentIndex.noticePrefix(patient)) }
        #expect(notices.count == 1)
        let roleID = try #require(f.consents["role"])
        let role = try #require(ConsentIndex.consent(roleID, patient: patient, in: f.h.state))
        #expect(role.grantee == .role(.researcher) && role.scope.categories == [.mentalHealth] && role.endMs == 5_000)
        #expect(role.grantedHeight == f.grantHeight && role.grantor == patient && !role.isRevoked)
        #expect(f.h.consentCount() == Int64(f.consents.count))
    }

    /// Grant at block g: not valid inside g, valid from g + 1. Revoke at block k: gone from k on.
    @Test func revocationTiming() throws {
        var h = Harness.standard()
        h.runAccepted([h.enroll(F.clinicDoctor, by: Harness.clinic, roles: ["clinician"]),
                       h.putRecord(F.obs, "Observation", "general", by: Harness.doctor)])
        let grant = h.grantConsent(to: .member(F.clinicDoctor.derivedID))
        let g = h.runAccepted([grant])
        let request = AccessRequest(requester: F.clinicDoctor.derivedID, record: F.obs, purpose: .treatment, action: .read)
        let inBlock = ConsentPolicy.decide(request, in: h.state, nowMs: 4_000, height: g)
        #expect(inBlock.outcome == .deny && inBlock.reason == .consentNotYetValid && inBlock.consent == grant.id)
        let after = ConsentPolicy.decide(request, in: h.state, nowMs: 4_000, height: g + 1)
        #expect(after.outcome == .permit && after.reason == .consent && after.consent == grant.id)
        #expect(ConsentIndex.consent(grant.id, patient: Harness.patientID, in: h.state)?.grantedHeight == g)
        #expect(h.consentIndexList(.member(F.clinicDoctor.derivedID)) == [grant.id])
        #expect(h.consentCount() == 1)

        let k = h.runAccepted([h.revokeConsent(grant.id)])
        for height in [k, k + 1, k + 5] {
            let denied = ConsentPolicy.decide(request, in: h.state, nowMs: 4_000, height: height)
            #expect(denied.outcome == .deny && denied.reason == .noConsent && denied.consent == nil, "height \(height)")
        }
        let entry = try #require(ConsentIndex.consent(grant.id, patient: Harness.patientID, in: h.state))
        #expect(entry.revokedHeight == k && entry.revokedBy == Harness.patientID && entry.isRevoked)
        #expect(h.consentIndexList(.member(F.clinicDoctor.derivedID)) == nil, "the emptied index list is deleted")
        #expect(h.consentCount() == 0)
        // The revoked consent stays on the chain under the patient's grant prefix.
        #expect(h.state.values.keys.contains { $0.hasPrefix(ConsentIndex.grantPrefix(Harness.patientID)) && $0.hasSuffix(grant.id.hex) })

        let before = h.state.values
        let again = h.revokeConsent(grant.id)
        let result = h.run([again])[0]
        #expect(result.code == ResultCode.consentAlreadyRevoked.rawValue, "\(result.message)")
        #expect(h.changedKeys(since: before) == [Harness.sequenceKey(Harness.patientID)])
        #expect(ConsentIndex.consent(grant.id, patient: Harness.patientID, in: h.state)?.revokedHeight == k)
    }

    /// A delegate may grant and revoke in the patient's name; revoking in the granting block works.
    @Test func delegateGrantsAndRevokesInOneBlock() throws {
        var h = Harness.standard()
        h.runAccepted([h.enroll(F.clinicDoctor, by: Harness.clinic, roles: ["clinician"]), h.registerPatient(F.guardian),
                       h.putRecord(F.obs, "Observation", "general", by: Harness.doctor)])
        h.runAccepted([h.addDelegate(F.guardian)])
        let kept = h.grantConsent(to: .member(F.clinicDoctor.derivedID), by: F.guardian)
        let dropped = h.grantConsent(to: .member(F.clinicDoctor.derivedID), by: F.guardian, purposes: ["HRESCH"])
        let b = h.runAccepted([kept, dropped, h.revokeConsent(dropped.id, by: F.guardian)])
        #expect(h.consentIndexList(.member(F.clinicDoctor.derivedID)) == [kept.id])
        #expect(h.consentCount() == 1)
        let keptEntry = try #require(ConsentIndex.consent(kept.id, patient: Harness.patientID, in: h.state))
        #expect(keptEntry.grantor == F.guardian.derivedID && keptEntry.patient == Harness.patientID)
        let droppedEntry = try #require(ConsentIndex.consent(dropped.id, patient: Harness.patientID, in: h.state))
        #expect(droppedEntry.revokedHeight == b && droppedEntry.revokedBy == F.guardian.derivedID)
    }
}
