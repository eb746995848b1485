import Contracts
import LedgerCore
import Testing

/// A chain with records and consents of every shape; rows decide against it.
struct ConsentFixture {
    static let k = Harness.keys
    static let chen = k(20), researcher = k(21), pharmacist = k(22), er = k(23), revoked = k(24)
    static let auditor = k(25), nurse = k(26), guardian = k(27), pharmacy = k(28)
    static let obs = Hash256.sha256([1]), mentalHealth = Hash256.sha256([2]), condition = Hash256.sha256([3]), erased = Hash256.sha256([4])
    static let unknown = Hash256.sha256([9]), location = Hash256.sha256([10])

    var h = Harness.standard()
    var consents: [String: Hash256] = [:]
    var breakGlassTimeMs: Int64 = 0

    init() {
        let clinicStaff = [(Self.chen, "clinician"), (Self.researcher, "researcher"), (Self.er, "emergency-clinician"), (Self.revoked, "clinician")]
        // The pharmacist works at a pharmacy, admitted in the same block (a clinic may not give that role).
        var txs = [h.admitOrg(Self.pharmacy, "pharmacy"), h.enroll(Self.pharmacist, by: Self.pharmacy, roles: ["pharmacist"])]
        txs += clinicStaff.map { h.enroll($0.0, by: Harness.clinic, roles: [$0.1]) }
        txs += [h.enroll(Self.auditor, by: Harness.hospital, roles: ["auditor"]), h.enroll(Self.nurse, by: Harness.hospital, roles: ["nurse"])]
        txs.append(h.sign(Self.guardian, "membership", "registerPatient", ["agreementKey": .bytes(Self.guardian.agreementPublicKey)]))
        precondition(h.run(txs).allSatisfy(\.isAccepted))
        txs = [h.sign(Harness.clinic, "membership", "revoke", ["member": .bytes(Self.revoked.derivedID.bytes)]),
               h.sign(Harness.patient, "consent", "addDelegate", ["delegate": .bytes(Self.guardian.derivedID.bytes), "relationship": .string("guardian")])]
        for (id, type, category) in [(Self.obs, "Observation", "general"), (Self.mentalHealth, "Condition", "mental-health"),
                                     (Self.condition, "Condition", "general"), (Self.erased, "Observation", "general")] {
            txs.append(h.register(id, type: type, category: category, by: Harness.doctor))
        }
        txs.append(h.putRecord(Self.location, "Location", "general", by: Harness.doctor, patient: nil))
        precondition(h.run(txs).allSatisfy(\.isAccepted))
        let grants: [(String, CanonicalMap)] = [
            ("c1", Self.grant(.member(Self.chen.derivedID), ["resourceTypes": .list([.string("Observation")])], purposes: ["TREAT"])),
            ("c4", Self.grant(.member(Self.chen.derivedID), ["resourceTypes": .list([.string("Condition")])], purposes: ["TREAT"])),
            ("c2", Self.grant(.member(Self.researcher.derivedID), ["categories": .list([.string("mental-health")]), "endMs": .int(5_000)],
                              purposes: ["HRESCH"])),
            ("c3", Self.grant(.role(.researcher), ["startMs": .int(100_000)], purposes: ["HRESCH"])),
            ("c5", Self.grant(.role(.pharmacist), ["records": .list([.bytes(Self.obs.bytes)])], purposes: ["TREAT"])),
            ("c6", Self.grant(.organization(Harness.hospital.derivedID), [:], purposes: ["HOPERAT"])),
        ]
        var grantTxs: [VerifiedTransaction] = []
        for (name, args) in grants {
            let tx = h.sign(Harness.patient, "consent", "grant", args)
            consents[name] = tx.id
            grantTxs.append(tx)
        }
        grantTxs.append(h.sign(Harness.patient, "records", "erase", ["record": .bytes(Self.erased.bytes)]))
        grantTxs.append(h.sign(Self.er, "consent", "breakGlass", [
            "patient": .bytes(Harness.patient.derivedID.bytes), "record": .bytes(Self.obs.bytes), "reason": .string("unconscious"),
            "justificationHash": .bytes(Hash256.sha256([7]).bytes), "minutes": .int(60)]))
        breakGlassTimeMs = 1_000 + Int64(h.height)
        let results = h.run(grantTxs)
        precondition(results.allSatisfy(\.isAccepted), "\(results.filter { !$0.isAccepted })")
    }

    static func grant(_ grantee: Grantee, _ extra: CanonicalMap, purposes: [String], actions: [String] = ["read"]) -> CanonicalMap {
        let granteeValue: CanonicalValue = switch grantee {
        case .member(let id): .map(["kind": .string("member"), "id": .bytes(id.bytes)])
        case .organization(let id): .map(["kind": .string("organization"), "id": .bytes(id.bytes)])
        case .role(let role): .map(["kind": .string("role"), "role": .string(role.rawValue)])
        }
        var args: CanonicalMap = [
            "patient": .bytes(Harness.patient.derivedID.bytes), "grantee": granteeValue,
            "purposes": .list(purposes.map { .string($0) }), "actions": .list(actions.map { .string($0) }),
        ]
        for (key, value) in extra { args[key] = value }
        return args
    }
}

extension Harness {
    mutating func register(_ record: Hash256, type: String, category: String, by author: IdentityKeys, version: Int64 = 1,
                           patient: IdentityKeys = Harness.patient) -> VerifiedTransaction {
        sign(author, "records", "register", [
            "record": .bytes(record.bytes), "patient": .bytes(patient.derivedID.bytes), "resourceType": .string(type),
            "category": .string(category), "ciphertextHash": .bytes(Hash256.sha256(record.bytes + [UInt8(version)]).bytes),
            "version": .int(version)])
    }
}

struct DecisionRow: CustomStringConvertible, Sendable {
    let description: String
    let requester: IdentityKeys
    let record: Hash256
    var purpose: Purpose = .treatment
    var action: ConsentAction = .read
    var nowMs: Int64 = 4_000
    let outcome: DecisionOutcome
    let reason: DecisionReason
    var consent: String? = nil
}

@Suite("Consent decision: every path")
struct ConsentPolicyTests {
    typealias F = ConsentFixture
    static let fixture = ConsentFixture()

    static let rows: [DecisionRow] = [
        DecisionRow(description: "patient reads own record", requester: Harness.patient, record: F.obs, outcome: .permit, reason: .patientSelf),
        DecisionRow(description: "guardian delegate reads", requester: F.guardian, record: F.mentalHealth, outcome: .permit, reason: .delegate),
        DecisionRow(description: "directory data for anyone active", requester: F.pharmacist, record: F.location, purpose: .payment,
                    outcome: .permit, reason: .directoryResource),
        DecisionRow(description: "author reads for research", requester: Harness.doctor, record: F.obs, purpose: .research, outcome: .permit, reason: .author),
        DecisionRow(description: "custodian's nurse treats", requester: F.nurse, record: F.obs, outcome: .permit, reason: .custodianCareTeam),
        DecisionRow(description: "custodian's nurse for research falls through to the org consent", requester: F.nurse, record: F.obs,
                    purpose: .research, outcome: .deny, reason: .purposeNotPermitted, consent: "c6"),
        DecisionRow(description: "consent to a member", requester: F.chen, record: F.obs, outcome: .permit, reason: .consent, consent: "c1"),
        DecisionRow(description: "consent to an organization", requester: F.auditor, record: F.obs, purpose: .operations,
                    outcome: .permit, reason: .consent, consent: "c6"),
        DecisionRow(description: "consent to a role", requester: F.pharmacist, record: F.obs, outcome: .permit, reason: .consent, consent: "c5"),
        DecisionRow(description: "sensitive category named", requester: F.researcher, record: F.mentalHealth, purpose: .research,
                    outcome: .permit, reason: .consent, consent: "c2"),
        DecisionRow(description: "break-glass within its time", requester: F.er, record: F.obs, purpose: .emergencyTreatment,
                    outcome: .breakGlass, reason: .breakGlass),
        DecisionRow(description: "break-glass after it expired", requester: F.er, record: F.obs, purpose: .emergencyTreatment,
                    nowMs: 4_000_000, outcome: .deny, reason: .breakGlassExpired),
        DecisionRow(description: "break-glass needs ETREAT", requester: F.er, record: F.obs, outcome: .deny, reason: .noConsent),
        DecisionRow(description: "break-glass is limited to its record", requester: F.er, record: F.condition, purpose: .emergencyTreatment,
                    outcome: .deny, reason: .noConsent),
        DecisionRow(description: "unknown requester", requester: Harness.stranger, record: F.obs, outcome: .deny, reason: .unknownRequester),
        DecisionRow(description: "revoked requester", requester: F.revoked, record: F.obs, outcome: .deny, reason: .requesterRevoked),
        DecisionRow(description: "unknown record", requester: F.chen, record: F.unknown, outcome: .deny, reason: .unknownRecord),
        DecisionRow(description: "erased record, even for the patient", requester: Harness.patient, record: F.erased, outcome: .deny, reason: .recordErased),
        DecisionRow(description: "expired consent", requester: F.researcher, record: F.mentalHealth, purpose: .research, nowMs: 6_000,
                    outcome: .deny, reason: .consentExpired, consent: "c2"),
        DecisionRow(description: "consent not yet valid beats a scope miss", requester: F.researcher, record: F.obs, purpose: .research,
                    outcome: .deny, reason: .consentNotYetValid, consent: "c3"),
        DecisionRow(description: "purpose not covered", requester: F.chen, record: F.obs, purpose: .payment, outcome: .deny,
                    reason: .purposeNotPermitted, consent: "c1"),
        DecisionRow(description: "action not covered", requester: F.chen, record: F.obs, action: .contribute, outcome: .deny,
                    reason: .actionNotPermitted, consent: "c1"),
        DecisionRow(description: "sensitive category not named", requester: F.chen, record: F.mentalHealth, outcome: .deny,
                    reason: .sensitiveNotNamed, consent: "c4"),
        DecisionRow(description: "record outside the scope", requester: F.pharmacist, record: F.condition, outcome: .deny,
                    reason: .outsideScope, consent: "c5"),
        DecisionRow(description: "no consent at all", requester: F.er, record: F.condition, outcome: .deny, reason: .noConsent),
    ]

    @Test("Decision table", arguments: rows)
    func decide(_ row: DecisionRow) {
        let f = Self.fixture
        let request = AccessRequest(requester: row.requester.derivedID, record: row.record, purpose: row.purpose, action: row.action)
        let decision = ConsentPolicy.decide(request, in: f.h.state, nowMs: row.nowMs, height: f.h.height)
        #expect(decision.outcome == row.outcome)
        #expect(decision.reason == row.reason)
        #expect(decision.consent == row.consent.map { f.consents[$0]! })
    }

    @Test func rowsCoverEveryReason() {
        #expect(Set(Self.rows.map(\.reason)) == DecisionReason.consentReasons)
    }

    @Test func breakGlassLeavesANoticeForThePatient() {
        let f = Self.fixture
        let notices = f.h.state.values.keys.filter { $0.hasPrefix(ConsentIndex.noticePrefix(Harness.patient.derivedID)) }
        #expect(notices.count == 1)
        let grant = ConsentIndex.breakGlass(patient: Harness.patient.derivedID, requester: F.er.derivedID, in: f.h.state)
        #expect(grant?.expiresMs == f.breakGlassTimeMs + 60 * 60_000)
    }

    @Test func revocationTakesEffectFromTheNextBlock() {
        var h = Harness.standard()
        let chen = F.chen
        precondition(h.run([h.enroll(chen, by: Harness.clinic, roles: ["clinician"]), h.register(F.obs, type: "Observation", category: "general", by: Harness.doctor)])
            .allSatisfy(\.isAccepted))
        let grant = h.sign(Harness.patient, "consent", "grant", ConsentFixture.grant(.member(chen.derivedID), [:], purposes: ["TREAT"]))
        let grantHeight = h.height
        #expect(h.run([grant])[0].isAccepted)
        let request = AccessRequest(requester: chen.derivedID, record: F.obs, purpose: .treatment, action: .read)
        // Inside the granting block the consent is not in effect yet; from the next one it is.
        #expect(ConsentPolicy.decide(request, in: h.state, nowMs: 4_000, height: grantHeight).reason == .consentNotYetValid)
        #expect(ConsentPolicy.decide(request, in: h.state, nowMs: 4_000, height: h.height).reason == .consent)

        let revoke = h.sign(Harness.patient, "consent", "revoke", ["patient": .bytes(Harness.patient.derivedID.bytes), "consent": .bytes(grant.id.bytes)])
        let revokeHeight = h.height
        #expect(h.run([revoke])[0].isAccepted)
        #expect(ConsentPolicy.decide(request, in: h.state, nowMs: 4_000, height: h.height).reason == .noConsent)
        let entry = ConsentIndex.consent(grant.id, patient: Harness.patient.derivedID, in: h.state)
        #expect(entry?.revokedHeight == revokeHeight && entry?.revokedBy == Harness.patient.derivedID)
        let again = h.sign(Harness.patient, "consent", "revoke", ["patient": .bytes(Harness.patient.derivedID.bytes), "consent": .bytes(grant.id.bytes)])
        #expect(h.run([again])[0].code == ResultCode.consentAlreadyRevoked.rawValue)
    }
}
