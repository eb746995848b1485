import Contracts
import LedgerCore
import Testing

/// The chain every rule row starts from: hospital + clinic staff, a patient with a guardian, a
/// hospital record, an erased record, one active consent, and an audit anchor of the hospital.
struct RuleWorld: Sendable {
    static let k = Harness.keys
    static let clinicDoctor = k(90), researcher = k(91), revokedMember = k(92), er = k(93), guardian = k(94)
    static let otherPatient = k(95), hospitalAdmin = k(96)
    static let obs = Hash256.sha256([0xB1]), erased = Hash256.sha256([0xB2]), unknownRecord = Hash256.sha256([0xBF])
    static let auditSize: Int64 = 10

    static let shared = RuleWorld()

    var h = Harness.standard()
    /// An active consent: the researcher may read for research.
    var consent = Hash256.zero

    init() {
        typealias W = RuleWorld
        h.runAccepted([
            h.enroll(W.clinicDoctor, by: Harness.clinic, roles: ["clinician"]),
            h.enroll(W.researcher, by: Harness.clinic, roles: ["researcher"]),
            h.enroll(W.revokedMember, by: Harness.clinic, roles: ["clinician"]),
            h.enroll(W.er, by: Harness.hospital, roles: ["emergency-clinician"]),
            h.enroll(W.hospitalAdmin, by: Harness.hospital, roles: ["admin"]),
            h.registerPatient(W.guardian),
            h.registerPatient(W.otherPatient),
        ], "staff")
        let grant = h.grantConsent(to: .member(W.researcher.derivedID), purposes: ["HRESCH"])
        consent = grant.id
        h.runAccepted([
            grant,
            h.revokeMember(W.revokedMember, by: Harness.clinic),
            h.addDelegate(W.guardian),
            h.putRecord(W.obs, "Observation", "general", by: Harness.doctor),
            h.putRecord(W.erased, "Observation", "general", by: Harness.doctor),
            h.auditAnchor(by: Harness.hospital, size: W.auditSize),
        ], "records")
        h.runAccepted([h.eraseRecord(W.erased, by: Harness.patient)], "erase")
    }
}

/// One contract rule: optional preparation (a block that must be accepted), the transaction
/// under test, and the code it must get.
struct ContractRuleRow: CustomStringConvertible, Sendable {
    let description: String
    let expected: ResultCode
    var prepare: (@Sendable (inout Harness) -> [VerifiedTransaction])? = nil
    let make: @Sendable (inout Harness) -> VerifiedTransaction

    /// Runs the row on a copy of `world`: the preparation must be accepted, the transaction must get
    /// the expected code, and a refusal must say why and change nothing but the sender's sequence
    /// (not even that when the envelope itself is refused).
    func check(on world: Harness) {
        var h = world
        if let prepare {
            let refused = h.run(prepare(&h)).filter { !$0.isAccepted }
            #expect(refused.isEmpty, "\(self): preparation refused: \(refused.map(\.message))")
        }
        let before = h.state.values
        let tx = make(&h)
        let result = h.run([tx])[0]
        #expect(result.code == expected.rawValue, "\(self): got \(result.code) \(result.message)")
        guard expected != .accepted else { return }
        #expect(!result.message.isEmpty)
        let changed = h.changedKeys(since: before)
        #expect(changed.isSubset(of: [Harness.sequenceKey(tx.body.sender)]), "\(self): changed \(changed.sorted())")
    }
}

@Suite("Consent and audit contract rules (records: RecordsRuleTests)")
struct ConsentRuleTests {
    typealias W = RuleWorld
    typealias Row = ContractRuleRow
    static let H = Harness.self

    static func member(_ keys: IdentityKeys) -> Grantee { .member(keys.derivedID) }

    static let rows: [Row] = [
        // consent.grant
        Row(description: "grant by the patient", expected: .accepted) { $0.grantConsent(to: member(W.clinicDoctor)) },
        Row(description: "grant by the patient's delegate", expected: .accepted) { $0.grantConsent(to: member(W.clinicDoctor), by: W.guardian) },
        Row(description: "grant signed by a clinician", expected: .notPatientOrDelegate) {
            $0.grantConsent(to: member(W.clinicDoctor), by: W.clinicDoctor)
        },
        Row(description: "grant signed by another patient", expected: .notPatientOrDelegate) {
            $0.grantConsent(to: member(W.clinicDoctor), by: W.otherPatient)
        },
        Row(description: "grant for an unknown patient", expected: .unknownPatient) {
            $0.grantConsent(H.granteeArg(member(W.clinicDoctor)), patient: H.stranger.derivedID)
        },
        Row(description: "grant to an unknown identity", expected: .unknownGrantee) { $0.grantConsent(to: member(H.stranger)) },
        Row(description: "grant to a revoked member", expected: .granteeRevoked) { $0.grantConsent(to: member(W.revokedMember)) },
        Row(description: "grant to an organization id as a member", expected: .unknownGrantee) { $0.grantConsent(to: member(H.hospital)) },
        Row(description: "grant to a member id as an organization", expected: .unknownGrantee) {
            $0.grantConsent(to: .organization(W.clinicDoctor.derivedID))
        },
        Row(description: "grant to a patient as a member", expected: .unknownGrantee) { $0.grantConsent(to: member(W.otherPatient)) },
        Row(description: "grant to an unknown role", expected: .unknownRole) {
            $0.grantConsent(.map(["kind": .string("role"), "role": .string("wizard")]))
        },
        Row(description: "grant for an unknown purpose", expected: .unknownPurpose) {
            $0.grantConsent(to: member(W.clinicDoctor), purposes: ["TREAT", "CURIOSITY"])
        },
        Row(description: "grant with no purposes", expected: .badArguments) { $0.grantConsent(to: member(W.clinicDoctor), purposes: []) },
        Row(description: "grant with no actions", expected: .badArguments) { $0.grantConsent(to: member(W.clinicDoctor), actions: []) },
        Row(description: "grant with an unknown action", expected: .badArguments) {
            $0.grantConsent(to: member(W.clinicDoctor), actions: ["delete"])
        },
        Row(description: "grant for an unknown category", expected: .unknownCategory) {
            $0.grantConsent(to: member(W.clinicDoctor), extra: ["categories": .list([.string("astrology")])])
        },
        Row(description: "grant for a bad resource type", expected: .unknownResourceType) {
            $0.grantConsent(to: member(W.clinicDoctor), extra: ["resourceTypes": .list([.string("observation")])])
        },
        Row(description: "grant ending before it starts", expected: .badPeriod) {
            $0.grantConsent(to: member(W.clinicDoctor), extra: ["startMs": .int(50_000), "endMs": .int(40_000)])
        },
        Row(description: "grant that has already ended", expected: .badPeriod) {
            $0.grantConsent(to: member(W.clinicDoctor), extra: ["startMs": .int(100), "endMs": .int(500)])
        },
        Row(description: "grant lasting over 100 years", expected: .badPeriod) {
            $0.grantConsent(to: member(W.clinicDoctor), extra: ["endMs": .int(ConsentContract.periodMsMax + 1_000_000)])
        },
        Row(description: "grant with an unknown argument", expected: .badArguments) {
            $0.grantConsent(to: member(W.clinicDoctor), extra: ["note": .string("x")])
        },
        // consent.revoke
        Row(description: "revoke an active consent", expected: .accepted) { $0.revokeConsent(W.shared.consent) },
        Row(description: "revoke an unknown consent", expected: .unknownConsent) { $0.revokeConsent(Hash256.sha256([0xEE])) },
        Row(description: "revoke a consent of another patient", expected: .unknownConsent) {
            $0.revokeConsent(W.shared.consent, by: W.otherPatient, patient: W.otherPatient.derivedID)
        },
        Row(description: "revoke by a clinician", expected: .notPatientOrDelegate) { $0.revokeConsent(W.shared.consent, by: W.clinicDoctor) },
        Row(description: "revoke twice", expected: .consentAlreadyRevoked, prepare: { [$0.revokeConsent(W.shared.consent)] }) {
            $0.revokeConsent(W.shared.consent)
        },
        // delegates
        Row(description: "delegate named by a clinician", expected: .unauthorized) { $0.addDelegate(W.otherPatient, by: W.clinicDoctor) },
        Row(description: "delegate unknown", expected: .unknownIdentity) { $0.addDelegate(H.stranger) },
        Row(description: "delegate with a bad relationship", expected: .badArguments) { $0.addDelegate(W.otherPatient, relationship: "friend") },
        Row(description: "remove a delegate who is not one", expected: .unknownDelegate) {
            $0.sign(H.patient, "consent", "removeDelegate", ["delegate": .bytes(W.otherPatient.derivedID.bytes)])
        },
        Row(description: "a removed delegate can no longer grant", expected: .notPatientOrDelegate,
            prepare: { [$0.sign(H.patient, "consent", "removeDelegate", ["delegate": .bytes(W.guardian.derivedID.bytes)])] }) {
            $0.grantConsent(to: member(W.clinicDoctor), by: W.guardian)
        },
        // consent.breakGlass
        Row(description: "break-glass by an emergency clinician", expected: .accepted) { $0.breakGlass(by: W.er, record: W.obs) },
        Row(description: "break-glass by a plain clinician", expected: .unauthorized) { $0.breakGlass(by: H.doctor, record: W.obs) },
        Row(description: "break-glass by an organization", expected: .unauthorized) { $0.breakGlass(by: H.hospital, record: nil) },
        Row(description: "break-glass for 0 minutes", expected: .badArguments) { $0.breakGlass(by: W.er, record: W.obs, minutes: 0) },
        Row(description: "break-glass for 241 minutes", expected: .badArguments) { $0.breakGlass(by: W.er, record: W.obs, minutes: 241) },
        Row(description: "break-glass for an unknown reason", expected: .badArguments) {
            $0.breakGlass(by: W.er, record: W.obs, reason: "boredom")
        },
        Row(description: "break-glass for an unknown patient", expected: .unknownPatient) {
            $0.breakGlass(by: W.er, record: nil, patient: H.stranger.derivedID)
        },
        Row(description: "break-glass on another patient's record", expected: .unknownRecord) {
            $0.breakGlass(by: W.er, record: W.obs, patient: W.otherPatient.derivedID)
        },
        // audit.anchor
        Row(description: "audit anchor that grows", expected: .accepted) { $0.auditAnchor(by: H.hospital, size: W.auditSize + 1) },
        Row(description: "audit anchor at the same size", expected: .auditNotGrowing) { $0.auditAnchor(by: H.hospital, size: W.auditSize) },
        Row(description: "audit anchor that shrinks", expected: .auditNotGrowing) { $0.auditAnchor(by: H.hospital, size: W.auditSize - 1) },
        Row(description: "audit anchor by a patient", expected: .unauthorized) { $0.auditAnchor(by: H.patient, size: 1) },
        Row(description: "audit anchor by a clinician", expected: .unauthorized) { $0.auditAnchor(by: H.doctor, size: 1) },
        Row(description: "audit anchor of size 0", expected: .badArguments) { $0.auditAnchor(by: H.clinic, size: 0) },
    ]

    @Test(arguments: rows)
    func rule(_ row: Row) {
        var h = W.shared.h
        if let prepare = row.prepare {
            let txs = prepare(&h)
            let results = h.run(txs)
            let refused = results.filter { !$0.isAccepted }
            #expect(refused.isEmpty, "\(row): preparation refused: \(refused.map(\.message))")
        }
        let before = h.state.values
        let tx = row.make(&h)
        let result = h.run([tx])[0]
        #expect(result.code == row.expected.rawValue, "\(row): got \(result.code) \(result.message)")
        guard row.expected != .accepted else { return }
        #expect(!result.message.isEmpty)
        let changed = h.changedKeys(since: before)
        #expect(changed.filter { !$0.hasPrefix("system/sequence/") }.isEmpty, "\(row): changed \(changed.sorted())")
        #expect(changed == [Harness.sequenceKey(tx.body.sender)], "\(row): changed \(changed.sorted())")
    }

    @Test func rowsAreDistinct() {
        #expect(Set(Self.rows.map(\.description)).count == Self.rows.count)
    }

    /// A contribute consent lets another organization's clinician write the next version; the
    /// record stays in its custodian's custody.
    @Test func contributedVersionKeepsCustodian() throws {
        var h = W.shared.h
        h.runAccepted([h.grantConsent(to: .member(W.clinicDoctor.derivedID), actions: ["contribute"])])
        let height = h.runAccepted([h.putRecord(W.obs, "Observation", "general", by: W.clinicDoctor, version: 2)])
        let current = try #require(RecordIndex.current(W.obs, in: h.state))
        #expect(current.version == 2 && current.custodian == Harness.hospital.derivedID)
        #expect(current.author == W.clinicDoctor.derivedID && current.height == height)
        #expect(RecordIndex.version(W.obs, 1, in: h.state)?.author == Harness.doctor.derivedID)
        // The custodian's own members keep writing without consent.
        h.runAccepted([h.putRecord(W.obs, "Observation", "general", by: Harness.doctor, version: 3)])
        #expect(RecordIndex.current(W.obs, in: h.state)?.custodian == Harness.hospital.derivedID)
    }

    /// Once the patient revokes the contribute consent, the other organization's clinician is no
    /// longer a grantee — but as the author of the current version they still pass the policy.
    @Test func revokedContributorCannotWriteAgain() throws {
        var h = W.shared.h
        let grant = h.grantConsent(to: .member(W.clinicDoctor.derivedID), actions: ["read", "contribute"])
        h.runAccepted([grant])
        h.runAccepted([h.putRecord(W.obs, "Observation", "general", by: W.clinicDoctor, version: 2)])
        h.runAccepted([h.revokeConsent(grant.id)])
        let result = h.run([h.putRecord(W.obs, "Observation", "general", by: W.clinicDoctor, version: 3)])[0]
        let read = ConsentPolicy.decide(AccessRequest(requester: W.clinicDoctor.derivedID, record: W.obs, purpose: .treatment, action: .read),
                                        in: h.state, nowMs: 4_000, height: h.height)
        #expect(result.code == ResultCode.unauthorized.rawValue, "got \(result.code) \(result.message)")
        #expect(read.outcome == .deny, "got \(read.reason)")
    }

    /// At most `perGranteeMax` active consents for one grantee; others are unaffected, and
    /// revoking one makes room again.
    @Test func perGranteeLimit() throws {
        var h = W.shared.h
        let grantee = Grantee.member(W.clinicDoctor.derivedID)
        let grants = (0..<ConsentContract.perGranteeMax).map { i in
            h.grantConsent(to: grantee, extra: ["startMs": .int(Int64(10_000 + i))])
        }
        h.runAccepted(grants)
        #expect(h.consentIndexList(grantee) == grants.map(\.id))
        let countBefore = try #require(h.consentCount())

        let before = h.state.values
        let extra = h.grantConsent(to: grantee)
        let refused = h.run([extra])[0]
        #expect(refused.code == ResultCode.tooManyConsents.rawValue, "\(refused.message)")
        #expect(h.changedKeys(since: before) == [Harness.sequenceKey(Harness.patientID)])

        let other = h.grantConsent(to: .member(W.er.derivedID))
        h.runAccepted([other])
        #expect(h.consentCount() == countBefore + 1)
        h.runAccepted([h.revokeConsent(grants[0].id), h.grantConsent(to: grantee)])
        #expect(h.consentIndexList(grantee)?.count == ConsentContract.perGranteeMax)
        #expect(h.consentCount() == countBefore + 1)
    }
}
