import Contracts
import LedgerCore
import Testing

/// Security review findings 3 and 13 as decisions of the consent policy.
///
/// The world: a hospital record written with an HIV label (version 1) then without one
/// (version 2, as a FHIR update that drops `meta.security`), a mental-health record, a general
/// record; a hospital nurse (care team, not the author); a clinic doctor with a general consent;
/// a clinic researcher with a consent naming HIV; a payer agent with a consent naming the record;
/// an emergency clinician with a break-glass grant. Each row is decided in three states: as
/// written, after the hospital lets its care team read HIV, and after the patient releases the
/// carried HIV label.
struct LabelWorld: Sendable {
    static let k = Harness.keys
    static let nurse = k(150), clinicDoctor = k(151), clinicResearcher = k(152), payer = k(153), payerAgent = k(154), er = k(155)
    static let labelled = Hash256.sha256(Array("labelled".utf8)), mentalHealth = Hash256.sha256(Array("mental".utf8))
    static let general = Hash256.sha256(Array("general".utf8))

    enum Stage: String, Sendable, CaseIterable { case written, careTeamOptIn, released }

    static let shared = LabelWorld()
    var states: [Stage: Harness] = [:]

    init() {
        typealias L = LabelWorld
        var h = Harness.standard()
        h.runAccepted([
            h.enroll(L.nurse, by: Harness.hospital, roles: ["nurse"]),
            h.enroll(L.er, by: Harness.hospital, roles: ["emergency-clinician"]),
            h.enroll(L.clinicDoctor, by: Harness.clinic, roles: ["clinician"]),
            h.enroll(L.clinicResearcher, by: Harness.clinic, roles: ["clinician"]),
            h.admitOrg(L.payer, "payer"),
        ], "staff")
        h.runAccepted([
            h.enroll(L.payerAgent, by: L.payer, roles: ["payer-agent"]),
            h.putRecord(L.labelled, "Observation", "hiv", by: Harness.doctor),
            h.putRecord(L.mentalHealth, "Condition", "mental-health", by: Harness.doctor),
            h.putRecord(L.general, "Observation", "general", by: Harness.doctor),
        ], "records")
        h.runAccepted([
            h.putRecord(L.labelled, "Observation", "general", by: Harness.doctor, version: 2),
            h.grantConsent(to: .member(L.clinicDoctor.derivedID)),
            h.grantConsent(to: .member(L.clinicResearcher.derivedID), extra: ["categories": .list([.string("hiv")])]),
            h.grantConsent(to: .member(L.payerAgent.derivedID), extra: ["records": .list([.bytes(L.labelled.bytes)])]),
            h.breakGlass(by: L.er, record: nil, minutes: 60),
        ], "version 2, consents, break-glass")
        states[.written] = h
        var optIn = h
        optIn.runAccepted([optIn.sign(Harness.hospital, MembershipContract.SetCareTeamCategories(categories: [.hiv]))], "opt in")
        states[.careTeamOptIn] = optIn
        var released = h
        released.runAccepted([released.sign(Harness.patient, RecordsContract.ReleaseLabel(record: L.labelled, category: .hiv))], "release")
        states[.released] = released
    }
}

struct LabelRow: CustomStringConvertible, Sendable {
    let description: String
    let requester: IdentityKeys
    let record: Hash256
    var version: UInt64? = nil
    var purpose: Purpose = .treatment
    /// The expected reason in each stage (written, care-team opt-in, released).
    let reasons: [DecisionReason]
}

@Suite("Sensitivity labels: carried over, bind the care team")
struct SensitivityLabelDecisionTests {
    typealias L = LabelWorld
    typealias Row = LabelRow

    static let rows: [Row] = [
        Row(description: "the nurse reads the labelled record's current version", requester: L.nurse, record: L.labelled,
            reasons: [.noConsent, .custodianCareTeam, .custodianCareTeam]),
        Row(description: "the nurse reads its labelled version 1", requester: L.nurse, record: L.labelled, version: 1,
            reasons: [.noConsent, .custodianCareTeam, .noConsent]),
        Row(description: "the nurse reads a mental-health record", requester: L.nurse, record: L.mentalHealth,
            reasons: [.noConsent, .noConsent, .noConsent]),
        Row(description: "the nurse reads a general record", requester: L.nurse, record: L.general,
            reasons: [.custodianCareTeam, .custodianCareTeam, .custodianCareTeam]),
        Row(description: "the author reads version 1", requester: Harness.doctor, record: L.labelled, version: 1, purpose: .research,
            reasons: [.author, .author, .author]),
        Row(description: "a general consent, the current version", requester: L.clinicDoctor, record: L.labelled,
            reasons: [.sensitiveNotNamed, .sensitiveNotNamed, .consent]),
        Row(description: "a general consent, version 1", requester: L.clinicDoctor, record: L.labelled, version: 1,
            reasons: [.sensitiveNotNamed, .sensitiveNotNamed, .sensitiveNotNamed]),
        Row(description: "a general consent, a general record", requester: L.clinicDoctor, record: L.general,
            reasons: [.consent, .consent, .consent]),
        Row(description: "a consent naming HIV, the current version", requester: L.clinicResearcher, record: L.labelled,
            reasons: [.consent, .consent, .outsideScope]),
        Row(description: "a consent naming HIV, version 1", requester: L.clinicResearcher, record: L.labelled, version: 1,
            reasons: [.consent, .consent, .consent]),
        Row(description: "a consent naming the record", requester: L.payerAgent, record: L.labelled, version: 1,
            reasons: [.consent, .consent, .consent]),
        Row(description: "break-glass reads the labelled record", requester: L.er, record: L.labelled, purpose: .emergencyTreatment,
            reasons: [.breakGlass, .custodianCareTeam, .custodianCareTeam]),
        Row(description: "break-glass reads the mental-health record", requester: L.er, record: L.mentalHealth, purpose: .emergencyTreatment,
            reasons: [.breakGlass, .breakGlass, .breakGlass]),
    ]

    @Test(arguments: rows)
    func decide(_ row: Row) throws {
        for (stage, expected) in zip(L.Stage.allCases, row.reasons) {
            let h = try #require(L.shared.states[stage])
            let request = AccessRequest(requester: row.requester.derivedID, record: row.record, purpose: row.purpose, action: .read,
                                        version: row.version)
            let decision = ConsentPolicy.decide(request, in: h.state, nowMs: 4_000, height: h.height)
            #expect(decision.reason == expected, "\(row), \(stage.rawValue): \(decision.reason.text)")
        }
    }

    /// A version without a label leaves the record's labels as they were; the patient's release
    /// removes only the carried one, and a version may bring a label back.
    @Test func labelsOnlyGrowUntilReleased() throws {
        var h = try #require(L.shared.states[.released])
        #expect(RecordIndex.current(L.labelled, in: h.state)?.sensitiveLabels == [])
        #expect(RecordIndex.version(L.labelled, 1, in: h.state)?.category == .hiv, "version 1 keeps its own label")
        h.runAccepted([h.putRecord(L.labelled, "Observation", "genetic", by: Harness.doctor, version: 3)], "v3 genetic")
        h.runAccepted([h.putRecord(L.labelled, "Observation", "general", by: Harness.doctor, version: 4)], "v4 general")
        let current = try #require(RecordIndex.current(L.labelled, in: h.state))
        #expect(current.category == .general && current.sensitiveLabels == [.genetic] && current.carriedLabels == [.genetic])
    }

    /// The looser care-team policy is the organization's own explicit choice: only a care
    /// provider's own key sets it, and only to sensitive categories.
    @Test func onlyACareProviderChoosesItsCareTeamCategories() {
        var h = L.shared.states[.written]!
        let choices: [(IdentityKeys, [SensitivityCategory], ResultCode)] = [
            (L.payer, [.hiv], .unauthorized), (L.nurse, [.hiv], .unauthorized), (Harness.hospital, [.general], .badArguments),
            (Harness.hospital, [.hiv, .hiv], .badArguments), (Harness.clinic, [.mentalHealth], .accepted), (Harness.hospital, [], .accepted),
        ]
        for (keys, categories, expected) in choices {
            let result = h.run([h.sign(keys, MembershipContract.SetCareTeamCategories(categories: categories))])[0]
            #expect(result.code == expected.rawValue, "\(categories): \(result.message)")
        }
        #expect(Directory.identity(Harness.clinic.derivedID, in: h.state)?.careTeamCategories == [.mentalHealth])
        #expect(Directory.identity(Harness.hospital.derivedID, in: h.state)?.careTeamCategories == nil)
    }
}
